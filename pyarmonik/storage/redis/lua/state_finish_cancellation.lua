-- state_finish_cancellation: CANCELLING -> CANCELLED once no agent runs the task.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
--
-- Returns {'OK'} (nothing done when the task is missing or not CANCELLING).
if finish_cancellation(ARGV[4]) then flush() end
return {'OK'}
