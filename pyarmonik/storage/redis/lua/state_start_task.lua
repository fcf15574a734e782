-- state_start_task: DISPATCHED -> PROCESSING, by the agent holding the task.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id
--
-- Returns {'OK', task JSON}, {'NOT_FOUND', 'task', id} or
-- {'NOT_HELD', task id, status name, owner, agent id}.
local task, refused = held_task(ARGV[4], ARGV[5], {[TS.DISPATCHED] = true})
if not task then return refused end
start(task)
flush()
return ok_tasks({task})
