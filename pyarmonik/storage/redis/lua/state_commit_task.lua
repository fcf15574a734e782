-- state_commit_task: a task's successful outcome, in one step.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     task id
-- ARGV[5]     agent id (must hold the task, PROCESSING)
-- ARGV[6]     n: number of new results
-- ARGV[7]     JSON array of completions [result id, size, opaque id as codec encodes it]
-- ARGV[8 .. 7+n]  new result JSON each (CREATED)
-- ARGV[8+n ..]    child task JSON each (CREATING)
--
-- In order: the worker's new results (NEW_RESULT), the completed results
-- (released dependents included), the children (ownership of the task's
-- outputs they list moves to them), the task COMPLETED. Checks everything
-- first. Returns {'OK', ready task JSON...} or an error reply, having
-- written nothing ({'NOT_HELD', ...} for an agent that lost the task).
local count = tonumber(ARGV[6])
local task, refused = commit(ARGV[4], ARGV[5], slice(ARGV, 8, 7 + count), cjson.decode(ARGV[7]),
  slice(ARGV, 8 + count, #ARGV))
if not task then return refused end
flush()
return ok_tasks(ready)
