-- state_cancel_tasks: non-final tasks of one session cancelled.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     reason (the status message)
-- ARGV[5]     JSON array of task ids
--
-- Held tasks (DISPATCHED, PROCESSING) become CANCELLING, the others CANCELLED;
-- their CREATED outputs are ABORTED and the tasks waiting on those ERROR,
-- recursively. Returns {'OK', JSON of each task, in the order asked} or
-- {'NOT_FOUND', 'task', ids...}.
local ids = cjson.decode(ARGV[5])
load_tasks(ids)
local missing = {'NOT_FOUND', 'task'}
for _, id in ipairs(ids) do
  if not tasks[id] then missing[#missing + 1] = id end
end
if #missing > 2 then return missing end
local list = {}
for i, id in ipairs(ids) do list[i] = tasks[id] end
cancel_tasks(list, ARGV[4])
flush()
return ok_tasks(list)
