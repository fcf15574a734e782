-- fn_control: the functions of the control plane (after the libs): sessions,
-- results and task submission, cancellation, pause and resume, reads of
-- result data. Each validates before its first write and answers
-- {'OK', ...} or an error reply {'<CODE>', ...} (storage/redis/library.py
-- raises it as a pyarmonik.core.errors exception), having written nothing.
--
-- Every function takes (at, session id, ...): at is the caller's time, as
-- exact decimal text. Those that a second run would get wrong take a
-- request id (`once`); the whole-session ones work in steps of at most
-- `limit` records (Redis serves no one else while a function runs).

local function missing_session(session) return error_reply('NOT_FOUND', 'session', session) end

-- What pa_get returns of a result, in this order (records.RESULT_FIELDS).
local RESULT_FIELDS = {'status', 'name', 'owner', 'created_by', 'created_at', 'completed_at', 'size', 'opaque',
  'manual'}

local function session_exists(session) return redis.call('EXISTS', k_session(session)) == 1 end

local function request_key(session, request)
  if request == '' then return '' end
  return k_session_reply(session, request)
end

-- The flat HGETALL of each task of `list`, for replies.
local function task_records(list)
  local reply = {'OK'}
  for _, task in ipairs(list) do reply[#reply + 1] = redis.call('HGETALL', k_task(task.session, task.id)) end
  return reply
end

-- pa_create_session(at, S, request, status, client, worker, json, created_at,
-- field, value...): the trailing pairs are the plain fields its queue
-- entries read (owner, app, weight: records.session_fields).
define('pa_create_session', function(args)
  local session = args[2]
  return once(request_key(session, args[3]), function()
    if session_exists(session) then return error_reply('ALREADY_EXISTS', 'session ' .. session .. ' already exists') end
    redis.call('HSET', k_session(session), 'status', args[4], 'client', args[5], 'worker', args[6], 'json', args[7],
      unpack(args, 9))
    redis.call('ZADD', k_sessions(), args[8], session)
    return {'OK'}
  end)
end)

-- pa_update_session(at, S, request, allowed statuses (comma-separated),
-- status or '', time field or '', client flag or '', worker flag or '',
-- follow-up flag or '') -> {'OK', record}: a compare-and-set,
-- FAILED_PRECONDITION unless the session's status is allowed. A session
-- that stops running (paused, cancelled, closed, purged, deleted) leaves
-- the queues in the same step: no agent takes one of its tasks after the
-- change (lib_graph's ready_status). With the follow-up flag, the session
-- is `settling` (scored `at`) until pa_settled: its tasks follow in steps.
define('pa_update_session', function(args)
  local session = args[2]
  return once(request_key(session, args[3]), function()
    local status = session_status(session)
    if not status then return missing_session(session) end
    local allowed = {}
    for value in string.gmatch(args[4], '[^,]+') do allowed[value] = true end
    if not allowed[status] then
      local target = args[5] ~= '' and SESSION_STATUS_NAMES[args[5]] or 'updated'
      return error_reply('FAILED_PRECONDITION', 'session ' .. session .. ' is ' .. SESSION_STATUS_NAMES[status]
        .. ' and cannot be ' .. target)
    end
    local fields = {}
    if args[5] ~= '' then
      fields[#fields + 1] = 'status'; fields[#fields + 1] = args[5]
      if args[6] ~= '' then fields[#fields + 1] = args[6]; fields[#fields + 1] = args[1] end
    end
    if args[7] ~= '' then fields[#fields + 1] = 'client'; fields[#fields + 1] = args[7] end
    if args[8] ~= '' then fields[#fields + 1] = 'worker'; fields[#fields + 1] = args[8] end
    if #fields > 0 then redis.call('HSET', k_session(session), unpack(fields)) end
    if args[5] ~= '' and args[5] ~= SS.RUNNING then unqueue_session(session) end
    if args[9] == '1' then redis.call('ZADD', k_settling(), args[1], session) end
    return {'OK', redis.call('HGETALL', k_session(session))}
  end)
end)

-- pa_settled(at, S, since) -> {'OK', 1 when it was settling since then}:
-- the follow-up of the session's change at `since` is done; a later change
-- (scored otherwise) stays settling.
define('pa_settled', function(args)
  local score = redis.call('ZSCORE', k_settling(), args[2])
  if not score or tonumber(score) ~= tonumber(args[3]) then return {'OK', 0} end
  return {'OK', redis.call('ZREM', k_settling(), args[2])}
end)

-- pa_unsettled(at, before, limit) -> {'OK', S...}: up to `limit` sessions
-- settling since before `before`, whose follow-up was cut short; each is
-- settling since `at` from now on, taken by this caller.
define('pa_unsettled', function(args)
  local reply = {'OK'}
  for _, session in ipairs(redis.call('ZRANGEBYSCORE', k_settling(), '-inf', args[2], 'LIMIT', 0, tonumber(args[3]))) do
    redis.call('ZADD', k_settling(), args[1], session)
    reply[#reply + 1] = session
  end
  return reply
end)

-- Deletes up to `limit` of the session's tasks (their partitions' counts
-- lose them) and results, with their global index entries; how many.
local function delete_some(session, limit)
  local task_ids = redis.call('ZRANGE', k_task_ids(session), 0, limit - 1)
  local result_ids = redis.call('ZRANGE', k_result_ids(session), 0, limit - #task_ids - 1)
  local names = {}
  for _, id in ipairs(task_ids) do
    local key = k_task(session, id)
    local v = redis.call('HMGET', key, 'partition', 'status', 'capped')
    if v[1] then delta(k_counts(v[1]), v[2], -1) end
    if v[3] then uncount(v[1], v[3]) end -- running in a capped key: the key may run another
    names[#names + 1] = key
  end
  for _, id in ipairs(result_ids) do
    local key = k_result(session, id)
    local status = redis.call('HGET', key, 'status')
    if status then delta(k_result_counts(), status, -1) end
    names[#names + 1] = key
  end
  if #names == 0 then return 0 end
  redis.call('UNLINK', unpack(names))
  if #task_ids > 0 then
    redis.call('HDEL', k_task_sessions(), unpack(task_ids))
    redis.call('ZREM', k_task_ids(session), unpack(task_ids))
  end
  if #result_ids > 0 then
    redis.call('HDEL', k_result_sessions(), unpack(result_ids))
    redis.call('ZREM', k_result_ids(session), unpack(result_ids))
  end
  return #names
end

-- pa_delete_session(at, S, limit) -> {'OK', 1 when the session is gone, else 0}
-- The session's queued work leaves the queues, its tasks and results go
-- `limit` at a time, then the session.
define('pa_delete_session', function(args)
  local session, limit = args[2], tonumber(args[3])
  if not session_exists(session) then return missing_session(session) end
  unqueue_session(session)
  local removed = delete_some(session, limit)
  if removed < limit then
    local apps = redis.call('HGETALL', k_session_apps(session))
    for i = 1, #apps, 2 do delta(k_applications(), apps[i], -tonumber(apps[i + 1])) end
    redis.call('UNLINK', k_session(session), k_waiting(session), k_task_statuses(session),
      k_result_statuses(session), k_task_ids(session), k_task_created(session), k_result_ids(session),
      k_session_apps(session))
    redis.call('ZREM', k_sessions(), session)
  end
  flush()
  return {'OK', removed < limit and 1 or 0}
end, false, true)

-- pa_create_results(at, S, request, n, result items...) (records.result_item;
-- ids are the grid's UUIDs, unique by construction: not looked up)
define('pa_create_results', function(args)
  local session, count = args[2], tonumber(args[4])
  return once(request_key(session, args[3]), function()
    if not session_exists(session) then return missing_session(session) end
    for n = 0, count - 1 do insert_result(session, args, 5 + n * RESULT_ITEM) end
    flush()
    return {'OK'}
  end)
end, false, true)

-- pa_complete_results(at, S, request, completed by, completions...) -> {'OK', tasks made ready}
-- A completion is lib_graph's COMPLETION_ITEM: result id, size, opaque id,
-- '1' when its (small) data follows, kept in the result's record, else '0',
-- the data or ''.
define('pa_complete_results', function(args)
  local session = args[2]
  return once(request_key(session, args[3]), function()
    if not session_exists(session) then return missing_session(session) end
    local found, missing, not_created = {}, {}, {}
    for i = 5, #args, COMPLETION_ITEM do
      local result = get_result(session, args[i])
      if not result then
        missing[#missing + 1] = args[i]
      elseif result.status ~= RS.CREATED then
        not_created[#not_created + 1] = args[i]
      end
      found[#found + 1] = result
    end
    if #missing > 0 then return error_reply('NOT_FOUND', 'result', unpack(missing)) end
    if #not_created > 0 then
      return error_reply('FAILED_PRECONDITION',
        'results are not waiting for data (not CREATED): ' .. concat(not_created, ', '))
    end
    for n, result in ipairs(found) do
      local i = 5 + (n - 1) * COMPLETION_ITEM
      complete_result(result, args[i + 1], args[i + 2], args[4], args[i + 3] == '1' and args[i + 4])
    end
    local ready = call.pushed
    flush()
    return {'OK', ready}
  end)
end, false, true)

-- pa_delete_results_data(at, S, result ids...) -> {'OK', id, opaque id, ...}
-- of the results set DELETED (manual_deletion ones are left as they are).
define('pa_delete_results_data', function(args)
  local session = args[2]
  local missing = {}
  for i = 3, #args do
    if not get_result(session, args[i]) then missing[#missing + 1] = args[i] end
  end
  if #missing > 0 then return error_reply('NOT_FOUND', 'result', unpack(missing)) end
  local reply = {'OK'}
  for i = 3, #args do
    local result = get_result(session, args[i])
    local key = k_result(session, args[i])
    local stored = redis.call('HMGET', key, 'manual', 'opaque')
    if stored[1] ~= '1' and result.status ~= RS.DELETED then
      set_result_status(result, RS.DELETED)
      redis.call('HDEL', key, 'data')
      reply[#reply + 1] = result.id
      reply[#reply + 1] = stored[2] or ''
    end
  end
  flush()
  return reply
end, false, true)

-- pa_create_tasks(at, S, request, n, task items...) -> {'OK', status of each}
define('pa_create_tasks', function(args)
  local session, count = args[2], tonumber(args[4])
  return once(request_key(session, args[3]), function()
    if not session_status(session) then return missing_session(session) end
    local refused = check_new_tasks(session, args, 5, count, {})
    if refused then return refused end
    local reply = {'OK'}
    for n = 0, count - 1 do reply[#reply + 1] = insert_task(session, args, 5 + n * TASK_ITEM, '') end
    flush()
    return reply
  end)
end, false, true)

-- pa_cancel_tasks(at, S, reason, task ids...) -> {'OK', record of each}
define('pa_cancel_tasks', function(args)
  local session, list, missing = args[2], {}, {}
  for i = 4, #args do
    local task = get_task(session, args[i])
    if task then list[#list + 1] = task else missing[#missing + 1] = args[i] end
  end
  if #missing > 0 then return error_reply('NOT_FOUND', 'task', unpack(missing)) end
  cancel_tasks(list, args[3])
  flush()
  return task_records(list)
end, false, true)

local NOT_FINAL = {TS.CREATING, TS.PENDING, TS.SUBMITTED, TS.DISPATCHED, TS.PROCESSING, TS.PAUSED}

-- pa_cancel_session_tasks(at, S, limit) -> {'OK', examined, cancelled task ids...}
-- One step of a session's cancellation: its queued entries leave the
-- queues, then up to `limit` non-final tasks are cancelled (their outputs
-- are aborted by pa_abort_outputs afterwards).
define('pa_cancel_session_tasks', function(args)
  local session, limit = args[2], tonumber(args[3])
  if not session_status(session) then return missing_session(session) end
  unqueue_session(session)
  local statuses, ids = k_task_statuses(session), {}
  for _, status in ipairs(NOT_FINAL) do
    if #ids >= limit then break end
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', statuses, status, status, 'LIMIT', 0, limit - #ids)) do
      ids[#ids + 1] = id
    end
  end
  local reply = {'OK', #ids}
  for _, id in ipairs(ids) do
    local task = get_task(session, id)
    if task and not FINAL[task.status] and task.status ~= TS.CANCELLING then
      set_task_status(task, HELD_BY_AGENT[task.status] and TS.CANCELLING or TS.CANCELLED,
        'message', 'session cancelled')
      reply[#reply + 1] = id
    elseif task then
      batch('ZADD', statuses, task.status, id) -- a stale index entry, corrected
    else
      redis.call('ZREM', statuses, id)
    end
  end
  flush()
  return reply
end, false, true)

-- pa_cancel_queued_tasks(at, S, limit) -> {'OK', examined}: one step of a
-- session's close: up to `limit` of its SUBMITTED tasks (out of the queues
-- since the close) cancelled, their outputs aborted, as ArmoniK cancels the
-- queued tasks of a closed session.
define('pa_cancel_queued_tasks', function(args)
  local session, limit = args[2], tonumber(args[3])
  local statuses, list = k_task_statuses(session), {}
  local ids = redis.call('ZRANGEBYSCORE', statuses, TS.SUBMITTED, TS.SUBMITTED, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local task = get_task(session, id)
    if task and task.status == TS.SUBMITTED then
      list[#list + 1] = task
    elseif task then
      batch('ZADD', statuses, task.status, id) -- a stale index entry, corrected
    else
      redis.call('ZREM', statuses, id)
    end
  end
  cancel_tasks(list, 'session closed')
  flush()
  return {'OK', #ids}
end, false, true)

-- pa_abort_outputs(at, S, task ids...): the cancelled tasks' outputs ABORTED.
define('pa_abort_outputs', function(args)
  local session = args[2]
  for i = 3, #args do
    local task = get_task(session, args[i])
    if task then abort_outputs(task, 'task ' .. task.id .. ' was cancelled') end
  end
  flush()
  return {'OK'}
end, false, true)

-- pa_abort_session_results(at, S, limit) -> {'OK', examined}: up to `limit`
-- CREATED results of the session ABORTED.
define('pa_abort_session_results', function(args)
  local session, limit = args[2], tonumber(args[3])
  local statuses = k_result_statuses(session)
  local ids = redis.call('ZRANGEBYSCORE', statuses, RS.CREATED, RS.CREATED, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local result = get_result(session, id)
    if result and result.status == RS.CREATED then
      set_result_status(result, RS.ABORTED)
    elseif result then
      batch('ZADD', statuses, result.status, id)
    else
      redis.call('ZREM', statuses, id)
    end
  end
  flush()
  return {'OK', #ids}
end, false, true)

-- pa_move_session_tasks(at, S, from, to, limit) -> {'OK', examined, moved task ids...}
-- Pause (SUBMITTED -> PAUSED: the session's queued entries leave the
-- queues first) or resume (PAUSED -> SUBMITTED, queued again), up to
-- `limit` tasks a step, while the session is PAUSED (resp. RUNNING).
define('pa_move_session_tasks', function(args)
  local session, from, to, limit = args[2], args[3], args[4], tonumber(args[5])
  local status = session_status(session)
  if not status then return missing_session(session) end
  -- a step of a pause or resume that another change overtook moves nothing
  if status ~= (to == TS.PAUSED and SS.PAUSED or SS.RUNNING) then return {'OK', 0} end
  if to == TS.PAUSED then unqueue_session(session) end
  local statuses = k_task_statuses(session)
  local ids = redis.call('ZRANGEBYSCORE', statuses, from, from, 'LIMIT', 0, limit)
  local reply = {'OK', #ids}
  for _, id in ipairs(ids) do
    local task = get_task(session, id)
    if task and task.status == from then
      set_task_status(task, to)
      if to == TS.SUBMITTED then push(task.partition, task.priority, session, id) end
      reply[#reply + 1] = id
    elseif task then
      batch('ZADD', statuses, task.status, id)
    else
      redis.call('ZREM', statuses, id)
    end
  end
  flush()
  return reply
end, false, true)

-- pa_read_data(at, S, R) -> {'OK', status, size, opaque id, data or false}
-- A download's one round trip: the result's status and object, and its
-- data when it is small (kept in its record).
define('pa_read_data', function(args)
  local v = redis.call('HMGET', k_result(args[2], args[3]), 'status', 'size', 'opaque', 'data')
  if not v[1] then return error_reply('NOT_FOUND', 'result', args[3]) end
  return {'OK', v[1], v[2] or '0', v[3] or '', v[4]}
end, true)

-- pa_get(at, kind, session or '', ids...) -> {'OK', session, record, ...}
-- Records by id, in one round trip: kind 't' tasks, 'r' results (their
-- session the given one, else the global index's; '' when unknown), 's'
-- sessions. A missing record is an empty array; a result's is the values
-- of RESULT_FIELDS (its small data left out: lists stay small).
define('pa_get', function(args)
  local kind, given = args[2], args[3]
  local index = kind == 't' and k_task_sessions() or k_result_sessions()
  local reply = {'OK'}
  for i = 4, #args do
    local id, session, record = args[i], given, {}
    if kind == 's' then
      session = id
      record = redis.call('HGETALL', k_session(id))
    else
      if session == '' then session = redis.call('HGET', index, id) or '' end
      if session ~= '' and kind == 't' then
        record = redis.call('HGETALL', k_task(session, id))
      elseif session ~= '' then
        record = redis.call('HMGET', k_result(session, id), unpack(RESULT_FIELDS))
        if not record[1] then record = {} end
      end
    end
    reply[#reply + 1] = session
    reply[#reply + 1] = record
  end
  return reply
end, true)
