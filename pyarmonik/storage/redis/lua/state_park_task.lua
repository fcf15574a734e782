-- state_park_task: SUBMITTED -> PAUSED, only while the session is PAUSED
-- (checked here, atomically, so that a concurrent resume is never undone).
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
--
-- Returns {'OK', 1} when parked, {'OK', 0} otherwise.
local task, session = get_task(ARGV[4]), get_session()
if not task or not session or task.status ~= TS.SUBMITTED or session.status ~= SS.PAUSED then
  return {'OK', 0}
end
set_task_status(task, TS.PAUSED)
flush()
return {'OK', 1}
