-- state_complete_results: results CREATED -> COMPLETED; releases the tasks
-- that no longer wait on anything.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2..8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     completed_by (task or session id)
-- ARGV[5]     JSON array of completions [result id, size, opaque id as codec encodes it]
--
-- Returns {'OK', ready task JSON...} (SUBMITTED, for the caller to queue),
-- {'NOT_FOUND', 'result', ids...} or {'FAILED_PRECONDITION', message}.
if not get_session() then return missing_session() end
local completions, ids = cjson.decode(ARGV[5]), {}
for i, completion in ipairs(completions) do ids[i] = completion[1] end
local found, missing = existing_results(ids)
if missing then return missing end
local not_created = {}
for _, result in ipairs(found) do
  if result.status ~= RS.CREATED then not_created[#not_created + 1] = result.result_id end
end
if #not_created > 0 then
  return {'FAILED_PRECONDITION', 'results are not waiting for data (not CREATED): ' .. table.concat(not_created, ', ')}
end
for _, completion in ipairs(completions) do
  complete_result(results[completion[1]], completion[2], completion[3], ARGV[4])
end
flush()
return ok_tasks(ready)
