-- state_commit_task: a task's successful outcome, in one step.
--
-- KEYS[1..8]  the session's keys (see state_lib_records): KEYS[2..8] are written
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
local task, refused = held_task(ARGV[4], ARGV[5], {[TS.PROCESSING] = true})
if not task then return refused end
local count = tonumber(ARGV[6])
local new_results, pending, children = {}, {}, {}
for i = 8, 7 + count do
  local result = decode_result(ARGV[i])
  new_results[#new_results + 1] = result
  pending[result.result_id] = true
end
for i = 8 + count, #ARGV do children[#children + 1] = decode_task(ARGV[i]) end
local clashes = {}
for _, result in ipairs(new_results) do
  if get_result(result.result_id) then clashes[#clashes + 1] = result.result_id end
end
if #clashes > 0 then return {'ALREADY_EXISTS', 'results already exist: ' .. table.concat(clashes, ', ')} end
local completions, existing = cjson.decode(ARGV[7]), {}
for _, completion in ipairs(completions) do
  if not pending[completion[1]] then existing[#existing + 1] = completion[1] end
end
local found, missing = existing_results(existing)
if missing then return missing end
for _, result in ipairs(found) do
  if result.status ~= RS.CREATED then
    return {'FAILED_PRECONDITION', 'result ' .. result.result_id .. ' is ' .. RESULT_STATUS_NAMES[result.status]
      .. ', not CREATED'}
  end
end
refused = check_new_tasks(children, pending)
if refused then return refused end
for i, result in ipairs(new_results) do add_result(result, ARGV[7 + i]) end
for _, completion in ipairs(completions) do
  complete_result(results[completion[1]], completion[2], completion[3], task.task_id)
end
for _, child in ipairs(children) do insert_task(child) end
task.processed_at, task.output_success = AT, true
set_task_status(task, TS.COMPLETED)
flush()
return ok_tasks(ready)
