-- state_lib_graph: second half of the prelude of every state_*.lua script
-- (after state_lib_records): the dependency graph and the task transitions
-- (once mirrored from the in-process store, now gone), so that the
-- bookkeeping (who waits on which result, what a failure aborts) is written
-- once for every script.
--
-- KEYS, ARGV: those of state_lib_records (the seven session keys; channel,
-- at, session id), through the locals it defines.

-- -- the dependency graph ---------------------------------------------------------
-- Removes and returns the ids of the tasks waiting on ``result_id`` (sorted).
local function pop_waiters(result_id)
  local low, high = '[' .. result_id .. SEP, '(' .. result_id .. '\1'
  local members = redis.call('ZRANGEBYLEX', WAITING_KEY, low, high)
  if #members == 0 then return members end
  redis.call('ZREMRANGEBYLEX', WAITING_KEY, low, high)
  local prefix = #result_id + 2
  for i, member in ipairs(members) do members[i] = string.sub(member, prefix) end
  return members
end

local function forget_dependencies(task_id)
  local raw = redis.call('HGET', REMAINING_KEY, task_id)
  if not raw then return end
  for _, result_id in ipairs(cjson.decode(raw)) do
    redis.call('ZREM', WAITING_KEY, result_id .. SEP .. task_id)
  end
  redis.call('HDEL', REMAINING_KEY, task_id)
end

local function dependencies_of(task)
  local all = {}
  for i, id in ipairs(task.data_dependencies) do all[i] = id end
  all[#all + 1] = task.payload_id
  return all
end

-- -- writes (transitions.Tables) ----------------------------------------------------
local function set_task_status(task, status, message)
  if task.status == status then return end
  task.status = status
  if message and message ~= '' then task.status_message = message end
  if status == TS.SUBMITTED then task.submitted_at = AT end
  if FINAL[status] then
    task.ended_at = AT
    forget_dependencies(task.task_id)
  end
  touch_task(task)
  task_event(EK.TASK_STATUS_UPDATE, task)
end

local function set_result_status(result, status)
  if result.status == status then return end
  result.status = status
  touch_result(result)
  result_event(EK.RESULT_STATUS_UPDATE, result)
end

local function set_owner(result, owner)
  local previous = result.owner_task_id
  if previous == owner then return end
  result.owner_task_id = owner
  touch_result(result)
  result_event(EK.RESULT_OWNER_UPDATE, result, previous, owner)
end

-- ``json`` (optional) is the record's JSON as the caller encoded it.
local function add_result(result, json)
  touch_result(result)
  result_json[result.result_id] = json
  result_event(EK.NEW_RESULT, result)
end

-- SUBMITTED (PAUSED in a paused session); a new task is announced once, by
-- its NEW_TASK event, so ``announce`` is false for it.
local function make_ready(task, announce)
  local status = get_session().status == SS.PAUSED and TS.PAUSED or TS.SUBMITTED
  if announce then
    set_task_status(task, status)
  else
    task.status, task.submitted_at = status, AT
    touch_task(task)
  end
  if status == TS.SUBMITTED then ready[#ready + 1] = task end
end

local function insert_task(task)
  touch_task(task)
  new_tasks[#new_tasks + 1] = task.task_id
  for _, output_id in ipairs(task.expected_output_ids) do
    local output = get_result(output_id)
    if output.owner_task_id == '' or output.owner_task_id == task.created_by then set_owner(output, task.task_id) end
  end
  local remaining, seen, members = {}, {}, {}
  for _, id in ipairs(dependencies_of(task)) do
    if not seen[id] and get_result(id).status ~= RS.COMPLETED then
      remaining[#remaining + 1] = id
      members[#members + 1] = 0
      members[#members + 1] = id .. SEP .. task.task_id
    end
    seen[id] = true
  end
  if #remaining > 0 then
    task.status = TS.PENDING
    redis.call('HSET', REMAINING_KEY, task.task_id, cjson.encode(remaining))
    redis.call('ZADD', WAITING_KEY, unpack(members))
  else
    make_ready(task, false)
  end
  task_event(EK.NEW_TASK, task)
end

local function complete_result(result, size, opaque_id, completed_by)
  result.size, result.opaque_id, result.completed_at = size, opaque_id, AT
  if result.created_by == '' then result.created_by = completed_by end
  touch_result(result)
  set_result_status(result, RS.COMPLETED)
  local waiters = pop_waiters(result.result_id)
  load_tasks(waiters)
  for _, task_id in ipairs(waiters) do
    local raw = redis.call('HGET', REMAINING_KEY, task_id)
    if raw then
      local left = {}
      for _, id in ipairs(cjson.decode(raw)) do
        if id ~= result.result_id then left[#left + 1] = id end
      end
      if #left > 0 then
        redis.call('HSET', REMAINING_KEY, task_id, cjson.encode(left))
      else
        redis.call('HDEL', REMAINING_KEY, task_id)
        local task = get_task(task_id)
        if task and WAITING[task.status] then make_ready(task, true) end
      end
    end
  end
end

-- ArmoniK's definitive failure: the CREATED outputs a task owns are ABORTED
-- and the tasks waiting on them fail (ERROR), recursively.
local function abort_outputs(task, reason)
  local stack = {task}
  while #stack > 0 do
    local current = table.remove(stack)
    for _, output_id in ipairs(current.expected_output_ids) do
      local output = get_result(output_id)
      if output and output.owner_task_id == current.task_id and output.status == RS.CREATED then
        set_result_status(output, RS.ABORTED)
        local waiters = pop_waiters(output_id)
        load_tasks(waiters)
        for _, waiter_id in ipairs(waiters) do
          local waiter = get_task(waiter_id)
          if waiter and WAITING[waiter.status] then
            set_task_status(waiter, TS.ERROR, reason .. ': dependency ' .. output_id .. ' aborted')
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
local function cancel_tasks(list, reason)
  local cancelled = {}
  for _, task in ipairs(list) do
    if not FINAL[task.status] and task.status ~= TS.CANCELLING then cancelled[#cancelled + 1] = task end
  end
  for _, task in ipairs(cancelled) do
    set_task_status(task, HELD_BY_AGENT[task.status] and TS.CANCELLING or TS.CANCELLED, reason)
  end
  for _, task in ipairs(cancelled) do abort_outputs(task, 'task ' .. task.task_id .. ' was cancelled') end
end

-- -- checks (no writes) ---------------------------------------------------------------
local function missing_session()
  return {'NOT_FOUND', 'session', SESSION_ID}
end

-- The records of ``ids`` (loaded), or an error reply naming the missing ones.
local function existing_results(ids)
  load_results(ids)
  local found, missing = {}, {'NOT_FOUND', 'result'}
  for _, id in ipairs(ids) do
    if results[id] then found[#found + 1] = results[id] else missing[#missing + 1] = id end
  end
  if #missing > 2 then return nil, missing end
  return found
end

local function joined_sorted(ids)
  table.sort(ids)
  return table.concat(ids, ', ')
end

-- Unique ids of ``field_of(task)`` over ``list``, minus those in ``skip``.
local function unique_ids(list, field_of, skip)
  local ids, seen = {}, {}
  for _, task in ipairs(list) do
    for _, id in ipairs(field_of(task)) do
      if not seen[id] and not skip[id] then ids[#ids + 1] = id end
      seen[id] = true
    end
  end
  return ids
end

local function outputs_of(task) return task.expected_output_ids end

-- Raises nothing, writes nothing: the error reply when a batch of tasks
-- cannot be created, nil when it can. ``pending`` are result ids about to
-- be created in the same transition.
local function check_new_tasks(list, pending)
  local duplicates, in_batch = {}, {}
  for _, task in ipairs(list) do
    if in_batch[task.task_id] or redis.call('HEXISTS', TASKS_KEY, task.task_id) == 1 then
      duplicates[#duplicates + 1] = task.task_id
    end
    in_batch[task.task_id] = true
  end
  if #duplicates > 0 then return {'ALREADY_EXISTS', 'tasks already exist: ' .. table.concat(duplicates, ', ')} end
  local dependencies, missing = existing_results(unique_ids(list, dependencies_of, pending))
  if missing then return missing end
  local unusable = {}
  for _, r in ipairs(dependencies) do
    if r.status == RS.ABORTED or r.status == RS.DELETED then unusable[#unusable + 1] = r.result_id end
  end
  if #unusable > 0 then
    return {'FAILED_PRECONDITION', 'dependencies are aborted or deleted: ' .. joined_sorted(unusable)}
  end
  local outputs
  outputs, missing = existing_results(unique_ids(list, outputs_of, pending))
  if missing then return missing end
  local done = {}
  for _, r in ipairs(outputs) do
    if r.status ~= RS.CREATED then done[#done + 1] = r.result_id end
  end
  if #done > 0 then
    return {'FAILED_PRECONDITION',
      'expected outputs are already completed, aborted or deleted: ' .. joined_sorted(done)}
  end
  return nil
end

-- The task, if ``agent_id`` still holds it in one of ``statuses``; else nil
-- and the error reply (a late agent whose lease was reaped is refused).
local function held_task(task_id, agent_id, statuses)
  local task = get_task(task_id)
  if not task then return nil, {'NOT_FOUND', 'task', task_id} end
  if task.owner_pod_id ~= agent_id or not statuses[task.status] then
    return nil, {'NOT_HELD', task_id, TASK_STATUS_NAMES[task.status] or tostring(task.status),
      task.owner_pod_id, agent_id}
  end
  return task
end

-- (the agent transitions follow in state_lib_agent)
