-- state_fail_task: a definitive failure (ERROR, TIMEOUT, or CANCELLED after
-- a cancel): the task's CREATED outputs ABORTED, dependents ERROR, recursively.
--
-- KEYS[1..8]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id (must hold the task, unless it is CANCELLING)
-- ARGV[6]     final status (int)
-- ARGV[7]     message
--
-- Returns {'OK', task JSON}, {'NOT_FOUND', 'task', id} or {'NOT_HELD', ...}.
local task, refused = get_task(ARGV[4]), nil
if not task then return {'NOT_FOUND', 'task', ARGV[4]} end
if task.status ~= TS.CANCELLING then
  task, refused = held_task(ARGV[4], ARGV[5], HELD_BY_AGENT)
  if not task then return refused end
end
local status = tonumber(ARGV[6])
task.output_error, task.processed_at = ARGV[7], AT
touch_task(task)
set_task_status(task, status, ARGV[7])
abort_outputs(task, 'task ' .. task.task_id .. ' ended ' .. TASK_STATUS_NAMES[status])
flush()
return ok_tasks({task})
