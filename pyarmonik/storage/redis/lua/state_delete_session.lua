-- state_delete_session: removes a session with all its tasks and results.
--
-- KEYS[1..10] the session's keys (see state_lib_records): all deleted
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
--
-- Returns {'OK', task ids, result ids} (the caller then drops them from the
-- global indexes) or {'NOT_FOUND', 'session', id}.
if redis.call('EXISTS', SESSION_KEY) == 0 then return missing_session() end
local task_ids = redis.call('HKEYS', TASKS_KEY)
local result_ids = redis.call('HKEYS', RESULTS_KEY)
redis.call('DEL', SESSION_KEY, TASKS_KEY, RESULTS_KEY, WAITING_KEY, REMAINING_KEY, TASK_STATUSES_KEY, RESULT_STATUSES_KEY,
  COUNTS_KEY, TASK_IDS_KEY, TASK_CREATED_KEY)
return {'OK', task_ids, result_ids}
