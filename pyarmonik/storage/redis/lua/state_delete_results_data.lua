-- state_delete_results_data: results -> DELETED, except manual_deletion ones.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[3], KEYS[7] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     JSON array of result ids
--
-- Returns {'OK', JSON of each result set DELETED} or {'NOT_FOUND', 'result', ids...}.
local found, missing = existing_results(cjson.decode(ARGV[4]))
if missing then return missing end
local deleted = {'OK'}
for _, result in ipairs(found) do
  if not result.manual_deletion then
    set_result_status(result, RS.DELETED)
    deleted[#deleted + 1] = result
  end
end
flush()
for i = 2, #deleted do deleted[i] = json_of_result(deleted[i]) end
return deleted
