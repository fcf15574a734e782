-- state_release_task: a held task back to SUBMITTED (PAUSED in a paused
-- session) without using a retry: agent shutting down, or lost before it
-- started the task.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id (must hold the task, DISPATCHED or PROCESSING)
--
-- Returns {'OK', task JSON}, {'NOT_FOUND', 'task', id} or {'NOT_HELD', ...}.
local task, refused = release(ARGV[4], ARGV[5])
if not task then return refused end
flush()
return ok_tasks({task})
