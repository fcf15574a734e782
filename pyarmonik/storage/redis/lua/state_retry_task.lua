-- state_retry_task: the failed attempt becomes RETRIED and a new attempt
-- "{initial_task_id}###{n}" takes over its outputs.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id of the failed attempt
-- ARGV[5]     agent id (must hold the task, DISPATCHED or PROCESSING)
-- ARGV[6]     message
-- ARGV[7]     id the caller expects for the new attempt (it indexed it first)
--
-- Returns {'OK', new task JSON} (SUBMITTED or PAUSED, or PENDING), or an
-- error reply having written nothing: {'NOT_FOUND', ...}, {'NOT_HELD', ...},
-- {'ALREADY_EXISTS', message}, {'FAILED_PRECONDITION', message}.
local new, refused = retry(ARGV[4], ARGV[5], ARGV[6], ARGV[7])
if not new then return refused end
flush()
return ok_tasks({new})
