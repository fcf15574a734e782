-- lib_graph: records and the task graph (after lib_core and lib_queue): the
-- transitions of tasks and results that every function shares, so that the
-- bookkeeping (who waits on which result, what a failure aborts, when a task
-- is ready) is written once.
--
-- A task is read as a small view, {id, session, status, partition,
-- priority, owner, lease, left}, by one HMGET; a result as {id, status,
-- owner, created_by}, cached per call. Writes HSET the changed fields only.

-- -- sessions --------------------------------------------------------------------------
-- The session's status, or nil when it does not exist; cached per call
-- with what its queue entries need (lib_queue's read_session).
local function session_status(session)
  read_session(session)
  return call.session_status or nil
end

-- -- tasks ---------------------------------------------------------------------------------
local TASK_VIEW = {'status', 'partition', 'priority', 'owner', 'left', 'capped'}
-- The view and what a claim returns of the task.
local TASK_RUN_VIEW = {'status', 'partition', 'priority', 'owner', 'left', 'capped', 'spec', 'inputs', 'outputs'}

-- A task's view {id, session, status, partition, priority, owner, left,
-- capped (the running counter of its capped key while it runs, else false)}
-- (and spec, inputs, outputs when `for_run`), or nil when it does not exist.
local function get_task(session, id, for_run)
  local v = redis.call('HMGET', k_task(session, id), unpack(for_run and TASK_RUN_VIEW or TASK_VIEW))
  if not v[1] then return nil end
  local task = {id = id, session = session, status = v[1], partition = v[2] or '', priority = v[3] or '0',
    owner = v[4] or '', left = tonumber(v[5]) or 0, capped = v[6]}
  if for_run then task.spec, task.inputs, task.outputs = v[7] or '{}', v[8] or '', v[9] or '' end
  return task
end

-- Removes a task's remaining waits (it ended before its inputs were ready).
local function forget_dependencies(task)
  if task.left <= 0 then return end
  local waiting = k_waiting(task.session)
  for _, input in ipairs(split(redis.call('HGET', k_task(task.session, task.id), 'inputs'))) do
    redis.call('ZREM', waiting, input .. SEP .. task.id)
  end
  task.left = 0
end

-- Moves a task to `status`, writing the fields `...` (name, value, ...)
-- with it; a final status stamps ended_at and drops the task's waits.
local function set_task_status(task, status, ...)
  local before, key = task.status, k_task(task.session, task.id)
  if task.capped and not COUNTED[status] then -- it stops running: its capped key may run another
    uncount(task.partition, task.capped)
    redis.call('HDEL', key, 'capped')
    task.capped = false
  end
  if FINAL[status] then
    if task.left > 0 then
      forget_dependencies(task)
      redis.call('HSET', key, 'left', '0')
    end
    redis.call('HSET', key, 'status', status, 'ended_at', call.at, ...)
  else
    redis.call('HSET', key, 'status', status, ...)
  end
  task.status = status
  task_moved(task.session, task.id, task.partition, before, status)
end

local cancel_tasks -- below

-- A task is queued only while its session runs, so that an agent never
-- reads the session of a task it takes: pausing a session, or ending it
-- (cancel, close, purge, delete), takes its tasks out of the queues in the
-- same step as the status change (pa_update_session), and a task made
-- ready later goes where its session's status sends it (ready_status).
-- Ready in a paused session is PAUSED (resume queues it), in an ended one
-- cancelled, as ArmoniK cancels such a task when it is dequeued.
local function ready_status(session)
  local status = session_status(session)
  if status == SS.RUNNING then return TS.SUBMITTED end
  if status == SS.PAUSED then return TS.PAUSED end
  return nil, 'session ' .. (SESSION_STATUS_NAMES[status] or 'gone')
end

-- SUBMITTED and queued (at the head of its list when given back), PAUSED
-- or cancelled as its session's status says; the fields `...` are written too.
local function make_ready(task, at_head, ...)
  local status, ended = ready_status(task.session)
  if not status then
    cancel_tasks({task}, ended)
    return
  end
  set_task_status(task, status, 'submitted_at', call.at, ...)
  if status == TS.SUBMITTED then push(task.partition, task.priority, task.session, task.id, at_head) end
end

-- The task `id` (its view `task` when already read) if `agent` still holds
-- it in one of `statuses`, else nil and the error reply (a late agent whose
-- lease was reaped is refused).
local function held_task(session, id, agent, statuses, task)
  task = task or get_task(session, id)
  if not task then return nil, error_reply('NOT_FOUND', 'task', id) end
  if task.owner ~= agent or not statuses[task.status] then
    return nil, error_reply('NOT_HELD', id, TASK_STATUS_NAMES[task.status] or tostring(task.status), task.owner,
      agent)
  end
  return task
end

-- -- results ---------------------------------------------------------------------------------
-- Cached by id (result ids are the grid's UUIDs: one id, one session).
local function get_result(session, id)
  local cache_key = id
  local results = bucket('results')
  local cached = results[cache_key]
  if cached == nil then
    local v = redis.call('HMGET', k_result(session, id), 'status', 'owner', 'created_by', 'waited')
    if v[1] then
      cached = {id = id, session = session, status = v[1], owner = v[2] or '', created_by = v[3] or '', waited = v[4]}
    else
      cached = false
    end
    results[cache_key] = cached
  end
  return cached or nil
end

local function set_result_status(result, status, ...)
  local before = result.status
  redis.call('HSET', k_result(result.session, result.id), 'status', status, ...)
  result.status = status
  result_moved(result.session, result.id, before, status)
end

local function set_owner(result, owner)
  local previous = result.owner
  if previous == owner then return end
  redis.call('HSET', k_result(result.session, result.id), 'owner', owner)
  result.owner = owner
  event(result.session, EK.RESULT_OWNER_UPDATE .. TAB .. result.status .. TAB .. result.id .. TAB .. previous .. TAB
    .. owner .. TAB)
end

-- A new result (CREATED, or COMPLETED with its data, small data kept in
-- its record): the fields of records.result_item, from `args[i]` on: id,
-- name, status, created_at, created_by, owner, manual ('1'/'0'), size,
-- opaque id, '1' when its data follows (small data, kept in the record)
-- else '0', the data or ''.
local RESULT_ITEM = 11
local function insert_result(session, args, i)
  local id, name, status, created_at, created_by, owner, manual, size, opaque, inline, data =
    unpack(args, i, i + RESULT_ITEM - 1)
  local fields = {'name', name, 'status', status, 'created_at', created_at}
  if created_by ~= '' then fields[#fields + 1] = 'created_by'; fields[#fields + 1] = created_by end
  if owner ~= '' then fields[#fields + 1] = 'owner'; fields[#fields + 1] = owner end
  if manual == '1' then fields[#fields + 1] = 'manual'; fields[#fields + 1] = '1' end
  if status == RS.COMPLETED then
    for _, f in ipairs({'size', size, 'opaque', opaque, 'completed_at', created_at}) do fields[#fields + 1] = f end
    if inline == '1' then fields[#fields + 1] = 'data'; fields[#fields + 1] = data end
  end
  redis.call('HSET', k_result(session, id), unpack(fields))
  batch('ZADD', memo(k_result_ids, session), 0, id)
  batch('HSET', k_result_sessions(), id, session)
  result_moved(session, id, nil, status, true)
  bucket('results')[id] = {id = id, session = session, status = status, owner = owner, created_by = created_by}
  event(session, EK.NEW_RESULT .. TAB .. status .. TAB .. id .. TAB .. TAB .. owner .. TAB .. name)
end

-- A completion (the data of a result, now stored): result id, size, opaque
-- id, '1' when its data follows (small data, kept in the result's record)
-- else '0', the data or ''.
local COMPLETION_ITEM = 5

-- Ids of the tasks waiting on `result_id`, removed from the waits.
local function pop_waiters(session, result_id)
  local waiting = k_waiting(session)
  local low, high = '[' .. result_id .. SEP, '(' .. result_id .. '\1'
  local members = redis.call('ZRANGEBYLEX', waiting, low, high)
  if #members == 0 then return members end
  redis.call('ZREMRANGEBYLEX', waiting, low, high)
  local prefix = #result_id + 2
  for i, member in ipairs(members) do members[i] = string.sub(member, prefix) end
  return members
end

-- CREATED -> COMPLETED with its object (and its small data, `data` when
-- not nil, kept in its record); the tasks waiting on nothing else become ready.
local function complete_result(result, size, opaque, completed_by, data)
  local creator = result.created_by
  if creator == '' then creator = completed_by end
  result.created_by = creator
  if data then
    set_result_status(result, RS.COMPLETED, 'size', size, 'opaque', opaque, 'completed_at', call.at, 'created_by',
      creator, 'data', data)
  else
    set_result_status(result, RS.COMPLETED, 'size', size, 'opaque', opaque, 'completed_at', call.at, 'created_by',
      creator)
  end
  if not result.waited then return end -- no task ever waited on it: no wait to look up
  for _, task_id in ipairs(pop_waiters(result.session, result.id)) do
    local task = get_task(result.session, task_id)
    if task and WAITING[task.status] then
      task.left = redis.call('HINCRBY', k_task(task.session, task_id), 'left', -1)
      if task.left <= 0 then make_ready(task) end
    end
  end
end

-- ArmoniK's definitive failure: the CREATED outputs a task owns are ABORTED
-- and the tasks waiting on them fail (ERROR), recursively.
local function abort_outputs(task, reason)
  local stack = {task}
  while #stack > 0 do
    local current = table.remove(stack)
    local outputs = split(redis.call('HGET', k_task(current.session, current.id), 'outputs'))
    for _, output_id in ipairs(outputs) do
      local output = get_result(current.session, output_id)
      if output and output.owner == current.id and output.status == RS.CREATED then
        set_result_status(output, RS.ABORTED)
        for _, waiter_id in ipairs(pop_waiters(current.session, output_id)) do
          local waiter = get_task(current.session, waiter_id)
          if waiter and WAITING[waiter.status] then
            set_task_status(waiter, TS.ERROR, 'message', reason .. ': dependency ' .. output_id .. ' aborted')
            stack[#stack + 1] = waiter
          end
        end
      end
    end
  end
end

-- Cancels every non-final task first, then aborts their outputs, so that a
-- task cancelled together with its producer ends CANCELLED, whatever the
-- order the tasks are visited in.
cancel_tasks = function(list, reason)
  local cancelled = {}
  for _, task in ipairs(list) do
    if not FINAL[task.status] and task.status ~= TS.CANCELLING then cancelled[#cancelled + 1] = task end
  end
  for _, task in ipairs(cancelled) do
    set_task_status(task, HELD_BY_AGENT[task.status] and TS.CANCELLING or TS.CANCELLED, 'message', reason)
  end
  for _, task in ipairs(cancelled) do abort_outputs(task, 'task ' .. task.id .. ' was cancelled') end
end

-- -- new tasks ---------------------------------------------------------------------------------
-- A new task is records.task_item: id, spec JSON, inputs (payload first,
-- comma-joined), outputs (comma-joined), partition, priority, application
-- key ('' for none), created_at.
local TASK_ITEM = 8

local function joined_sorted(ids)
  table.sort(ids)
  return concat(ids, ', ')
end

-- Raises nothing, writes nothing: the error reply when the new tasks of
-- `args` (count items from index i) cannot be created, nil when they can.
-- `pending` are result ids about to be created in the same call. Task ids
-- are the grid's UUIDs, unique by construction: not looked up.
local function check_new_tasks(session, args, i, count, pending)
  if count == 0 then return nil end
  local missing, unusable, done, seen_input, seen_output = {}, {}, {}, {}, {}
  for n = 0, count - 1 do
    local at = i + n * TASK_ITEM
    for _, r in ipairs(split(args[at + 2])) do
      if not seen_input[r] and not pending[r] then
        seen_input[r] = true
        local result = get_result(session, r)
        if not result then
          missing[#missing + 1] = r
        elseif result.status == RS.ABORTED or result.status == RS.DELETED then
          unusable[#unusable + 1] = r
        end
      end
    end
    for _, r in ipairs(split(args[at + 3])) do
      if not seen_output[r] and not pending[r] then
        seen_output[r] = true
        local result = get_result(session, r)
        if not result then
          missing[#missing + 1] = r
        elseif result.status ~= RS.CREATED then
          done[#done + 1] = r
        end
      end
    end
  end
  if #missing > 0 then return error_reply('NOT_FOUND', 'result', unpack(missing)) end
  if #unusable > 0 then
    return error_reply('FAILED_PRECONDITION', 'dependencies are aborted or deleted: ' .. joined_sorted(unusable))
  end
  if #done > 0 then
    return error_reply('FAILED_PRECONDITION',
      'expected outputs are already completed, aborted or deleted: ' .. joined_sorted(done))
  end
  return nil
end

-- Inserts the new task at args[i]: its outputs without an owner (or owned
-- by `creator`, a parent delegating them or a failed attempt) become its
-- own; PENDING while an input is not COMPLETED, else ready. Returns its status.
local function insert_task(session, args, i, creator)
  local id, spec, inputs, outputs, partition, priority, app, created_at = unpack(args, i, i + TASK_ITEM - 1)
  for _, r in ipairs(split(outputs)) do
    local output = get_result(session, r)
    if output.owner == '' or output.owner == creator then set_owner(output, id) end
  end
  local left, seen, waits, ended = 0, {}, {}, nil
  for _, r in ipairs(split(inputs)) do
    if not seen[r] then
      seen[r] = true
      local input = get_result(session, r)
      if not input or input.status ~= RS.COMPLETED then
        left = left + 1
        waits[#waits + 1] = r .. SEP .. id
        if input and not input.waited then -- marked, so that completing it looks its waits up
          redis.call('HSET', k_result(session, r), 'waited', '1')
          input.waited = '1'
        end
      end
    end
  end
  local status, fields
  if left > 0 then
    status = TS.PENDING
    for _, member in ipairs(waits) do batch('ZADD', memo(k_waiting, session), 0, member) end
  else
    status, ended = ready_status(session)
    status = status or TS.SUBMITTED -- an ended session's: cancelled below, once created
  end
  fields = {'spec', spec, 'inputs', inputs, 'outputs', outputs, 'partition', partition, 'priority', priority,
    'status', status}
  if left > 0 then fields[#fields + 1] = 'left'; fields[#fields + 1] = left end
  if status ~= TS.PENDING then fields[#fields + 1] = 'submitted_at'; fields[#fields + 1] = call.at end
  redis.call('HSET', k_task(session, id), unpack(fields))
  batch('ZADD', memo(k_task_ids, session), 0, id)
  batch('ZADD', memo(k_task_created, session), created_at, id)
  batch('HSET', k_task_sessions(), id, session)
  if app ~= '' then
    delta(memo(k_session_apps, session), app, 1)
    delta(k_applications(), app, 1)
  end
  task_moved(session, id, partition, nil, status, true)
  event(session, EK.NEW_TASK .. TAB .. status .. TAB .. id .. TAB .. inputs .. TAB .. outputs .. TAB .. spec)
  if ended then
    cancel_tasks({{id = id, session = session, status = status, partition = partition, priority = priority,
      owner = '', left = 0}}, ended)
    return TS.CANCELLED
  end
  if status == TS.SUBMITTED then push(partition, priority, session, id) end
  return status
end
