-- state_fail_task: a definitive failure (ERROR, TIMEOUT, or CANCELLED after
-- a cancel): the task's CREATED outputs ABORTED, dependents ERROR, recursively.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id (must hold the task, unless it is CANCELLING)
-- ARGV[6]     final status (int)
-- ARGV[7]     message
--
-- Returns {'OK', task JSON}, {'NOT_FOUND', 'task', id} or {'NOT_HELD', ...}.
local task, refused = fail(ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7])
if not task then return refused end
flush()
return ok_tasks({task})
