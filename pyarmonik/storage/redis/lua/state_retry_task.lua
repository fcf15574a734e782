-- state_retry_task: the failed attempt becomes RETRIED and a new attempt
-- "{initial_task_id}###{n}" takes over its outputs.
--
-- KEYS[1..8]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id of the failed attempt
-- ARGV[5]     agent id (must hold the task, DISPATCHED or PROCESSING)
-- ARGV[6]     message
-- ARGV[7]     id the caller expects for the new attempt (it indexed it first)
--
-- Returns {'OK', new task JSON} (SUBMITTED or PAUSED, or PENDING), or an
-- error reply having written nothing: {'NOT_FOUND', ...}, {'NOT_HELD', ...},
-- {'ALREADY_EXISTS', message}, {'FAILED_PRECONDITION', message}.
local old, refused = held_task(ARGV[4], ARGV[5], HELD_BY_AGENT)
if not old then return refused end
local retry_of = {}
for i, id in ipairs(old.retry_of_ids) do retry_of[i] = id end
retry_of[#retry_of + 1] = old.task_id
local new_id = old.initial_task_id .. '###' .. #retry_of
if new_id ~= ARGV[7] then
  return {'FAILED_PRECONDITION', 'retry of task ' .. old.task_id .. ' is ' .. new_id .. ', not ' .. ARGV[7]}
end
if get_task(new_id) then return {'ALREADY_EXISTS', 'retry ' .. new_id .. ' already exists'} end
local function copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end
-- Fields left out take their defaults (null times, '' texts, no owner).
local new = {
  task_id = new_id, session_id = old.session_id, status = TS.CREATING, options = old.options, created_at = AT,
  payload_id = old.payload_id, data_dependencies = copy(old.data_dependencies),
  expected_output_ids = copy(old.expected_output_ids), parent_task_ids = copy(old.parent_task_ids),
  retry_of_ids = retry_of, initial_task_id = old.initial_task_id, created_by = old.task_id,
  owner_pod_id = '', pod_hostname = '', output_success = false,
}
old.output_error = ARGV[6]
touch_task(old)
set_task_status(old, TS.RETRIED, ARGV[6])
insert_task(new)
flush()
return ok_tasks({new})
