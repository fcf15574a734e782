-- state_lib_agent: third part of the prelude of every state_*.lua script
-- (after state_lib_records and state_lib_graph; locals only): the
-- transitions of a task held by an agent, as functions, so that the
-- one-session scripts (state_commit_task, ...) and the agent's dispatch
-- scripts (dispatch_*.lua, which also ack the lease and queue what was made
-- ready) apply the very same checks and writes. Each returns the task (or
-- true) and nil, or nil and an error reply, having written nothing then;
-- the caller flush()es.
--
-- KEYS, ARGV: those of state_lib_records (or, in a dispatch script, of the
-- session dispatch_lib's use_session points them at), through its locals.

-- ``list[first..last]`` as a new list (unpack() is bounded by Lua's stack).
local function slice(list, first, last)
  local out = {}
  for i = first, last do out[#out + 1] = list[i] end
  return out
end

-- SUBMITTED -> DISPATCHED for ``agent_id``.
local function acquire(task, agent_id, hostname)
  task.owner_pod_id, task.pod_hostname = agent_id, hostname
  task.acquired_at, task.received_at = AT, AT
  set_task_status(task, TS.DISPATCHED)
end

-- DISPATCHED -> PROCESSING.
local function start(task)
  task.fetched_at, task.started_at = AT, AT
  set_task_status(task, TS.PROCESSING)
end

-- A successful outcome: the worker's new results (``result_jsons``, CREATED),
-- the completed results (``completions``: {result id, size, opaque id}),
-- the children (``child_jsons``, CREATING), then the task COMPLETED.
local function commit(task_id, agent_id, result_jsons, completions, child_jsons)
  local task, refused = held_task(task_id, agent_id, {[TS.PROCESSING] = true})
  if not task then return nil, refused end
  local new_results, pending, children = {}, {}, {}
  for _, json in ipairs(result_jsons) do
    local result = decode_result(json)
    new_results[#new_results + 1] = result
    pending[result.result_id] = true
  end
  for _, json in ipairs(child_jsons) do children[#children + 1] = decode_task(json) end
  local clashes = {}
  for _, result in ipairs(new_results) do
    if get_result(result.result_id) then clashes[#clashes + 1] = result.result_id end
  end
  if #clashes > 0 then return nil, {'ALREADY_EXISTS', 'results already exist: ' .. table.concat(clashes, ', ')} end
  local existing = {}
  for _, completion in ipairs(completions) do
    if not pending[completion[1]] then existing[#existing + 1] = completion[1] end
  end
  local found, missing = existing_results(existing)
  if missing then return nil, missing end
  for _, result in ipairs(found) do
    if result.status ~= RS.CREATED then
      return nil, {'FAILED_PRECONDITION', 'result ' .. result.result_id .. ' is '
        .. RESULT_STATUS_NAMES[result.status] .. ', not CREATED'}
    end
  end
  refused = check_new_tasks(children, pending)
  if refused then return nil, refused end
  for i, result in ipairs(new_results) do add_result(result, result_jsons[i]) end
  for _, completion in ipairs(completions) do
    complete_result(results[completion[1]], completion[2], completion[3], task.task_id)
  end
  for _, child in ipairs(children) do insert_task(child) end
  task.processed_at, task.output_success = AT, true
  set_task_status(task, TS.COMPLETED)
  return task
end

-- A definitive failure (ERROR, TIMEOUT, or CANCELLED after a cancel): the
-- task's CREATED outputs ABORTED, dependents ERROR, recursively.
local function fail(task_id, agent_id, status, message)
  local task, refused = get_task(task_id), nil
  if not task then return nil, {'NOT_FOUND', 'task', task_id} end
  if task.status ~= TS.CANCELLING then
    task, refused = held_task(task_id, agent_id, HELD_BY_AGENT)
    if not task then return nil, refused end
  end
  task.output_error, task.processed_at = message, AT
  touch_task(task)
  set_task_status(task, status, message)
  abort_outputs(task, 'task ' .. task.task_id .. ' ended ' .. TASK_STATUS_NAMES[status])
  return task
end

local function copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

-- The failed attempt RETRIED, a new attempt "{initial_task_id}###{n}"
-- (``expected_id``, which the caller indexed first) taking over its outputs.
local function retry(task_id, agent_id, message, expected_id)
  local old, refused = held_task(task_id, agent_id, HELD_BY_AGENT)
  if not old then return nil, refused end
  local retry_of = copy(old.retry_of_ids)
  retry_of[#retry_of + 1] = old.task_id
  local new_id = old.initial_task_id .. '###' .. #retry_of
  if new_id ~= expected_id then
    return nil, {'FAILED_PRECONDITION', 'retry of task ' .. old.task_id .. ' is ' .. new_id .. ', not ' .. expected_id}
  end
  if get_task(new_id) then return nil, {'ALREADY_EXISTS', 'retry ' .. new_id .. ' already exists'} end
  -- Fields left out take their defaults (null times, '' texts, no owner).
  local new = {
    task_id = new_id, session_id = old.session_id, status = TS.CREATING, options = old.options, created_at = AT,
    payload_id = old.payload_id, data_dependencies = copy(old.data_dependencies),
    expected_output_ids = copy(old.expected_output_ids), parent_task_ids = copy(old.parent_task_ids),
    retry_of_ids = retry_of, initial_task_id = old.initial_task_id, created_by = old.task_id,
    owner_pod_id = '', pod_hostname = '', output_success = false,
  }
  old.output_error = message
  touch_task(old)
  set_task_status(old, TS.RETRIED, message)
  insert_task(new)
  return new
end

-- A held task back to SUBMITTED (PAUSED in a paused session) without using
-- a retry.
local function release(task_id, agent_id)
  local task, refused = held_task(task_id, agent_id, HELD_BY_AGENT)
  if not task then return nil, refused end
  task.owner_pod_id, task.pod_hostname = '', ''
  touch_task(task)
  make_ready(task, true)
  return task
end

-- CANCELLING -> CANCELLED once no agent runs the task; false when it is
-- missing or not CANCELLING.
local function finish_cancellation(task_id)
  local task = get_task(task_id)
  if not task or task.status ~= TS.CANCELLING then return false end
  set_task_status(task, TS.CANCELLED)
  return true
end

-- (the dispatch scripts add dispatch_lib)
