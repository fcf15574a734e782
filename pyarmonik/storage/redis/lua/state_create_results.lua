-- state_create_results: new results of one session (NEW_RESULT events).
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[3], KEYS[7] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[3i+1], ARGV[3i+2], ARGV[3i+3] (i = 1..n)  result id, status (int), result JSON
--
-- Returns {'OK'}, {'NOT_FOUND', 'session', id} or {'ALREADY_EXISTS', message}.
if redis.call('EXISTS', SESSION_KEY) == 0 then return missing_session() end
local duplicates, batch = {}, {}
for i = 4, #ARGV, 3 do
  if redis.call('HEXISTS', RESULTS_KEY, ARGV[i]) == 1 or batch[ARGV[i]] then duplicates[#duplicates + 1] = ARGV[i] end
  batch[ARGV[i]] = true
end
if #duplicates > 0 then return {'ALREADY_EXISTS', 'results already exist: ' .. table.concat(duplicates, ', ')} end
-- Stored and announced as the caller encoded them: no decoding needed.
for i = 4, #ARGV, 3 do
  add_result({result_id = ARGV[i], session_id = SESSION_ID, status = tonumber(ARGV[i + 1])}, ARGV[i + 2])
end
flush()
return {'OK'}
