-- state_cancel_session: every non-final task of the session cancelled (as by
-- state_cancel_tasks) and every CREATED result ABORTED.
--
-- KEYS[1..5]  the session's keys (see state_lib_records): KEYS[2..5] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
--
-- Returns {'OK'} or {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local list = {}
for i, id in ipairs(load_all(TASKS_KEY, tasks, task_json, decode_task)) do list[i] = tasks[id] end
cancel_tasks(list, 'session cancelled')
for _, id in ipairs(load_all(RESULTS_KEY, results, result_json, decode_result)) do
  if results[id].status == RS.CREATED then set_result_status(results[id], RS.ABORTED) end
end
flush()
return {'OK'}
