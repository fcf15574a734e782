-- state_abort_outputs: the CREATED outputs owned by each given (cancelled)
-- task ABORTED, and the tasks waiting on them ERROR, recursively (step 2 of
-- cancel_session, in runs of a bounded number of tasks).
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     JSON array of task ids (missing ones are skipped)
--
-- Returns {'OK'}.
local ids = cjson.decode(ARGV[4])
load_tasks(ids)
for _, id in ipairs(ids) do
  if tasks[id] then abort_outputs(tasks[id], 'task ' .. id .. ' was cancelled') end
end
flush()
return {'OK'}
