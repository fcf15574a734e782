-- state_acquire_task: SUBMITTED -> DISPATCHED for one agent.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id (becomes owner_pod_id)
-- ARGV[6]     agent hostname
--
-- Returns {'OK', task JSON}, or {'OK'} when the task is missing or not
-- SUBMITTED (already taken, cancelled, paused...).
local task = get_task(ARGV[4])
if not task or task.status ~= TS.SUBMITTED then return {'OK'} end
acquire(task, ARGV[5], ARGV[6])
flush()
return ok_tasks({task})
