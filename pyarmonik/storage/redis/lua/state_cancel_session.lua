-- state_cancel_session: every non-final task of the session cancelled (as by
-- state_cancel_tasks) and every CREATED result ABORTED.
--
-- KEYS[1..7]  the session's keys (see state_lib_records): KEYS[2..7] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
--
-- Reads only the tasks and results it changes, found by the status indexes.
-- Returns {'OK'} or {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local ids = ids_in(TASK_STATUSES_KEY, {TS.CREATING, TS.PENDING, TS.SUBMITTED, TS.DISPATCHED, TS.PROCESSING, TS.PAUSED})
load_tasks(ids)
local list = {}
for _, id in ipairs(ids) do list[#list + 1] = tasks[id] or nil end
cancel_tasks(list, 'session cancelled')
local created = ids_in(RESULT_STATUSES_KEY, {RS.CREATED})
load_results(created)
for _, id in ipairs(created) do
  local result = results[id]
  if result and result.status == RS.CREATED then set_result_status(result, RS.ABORTED) end
end
flush()
return {'OK'}
