-- state_abort_session_results: up to ARGV[4] CREATED results of the session
-- ABORTED (step 3 of cancel_session, run until none is left).
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[3], KEYS[7] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     most results to abort in this run
--
-- Returns {'OK', examined}: the caller runs it again while ``examined``
-- reaches ARGV[4].
local ids = redis.call('ZRANGEBYSCORE', RESULT_STATUSES_KEY, RS.CREATED, RS.CREATED, 'LIMIT', 0, tonumber(ARGV[4]))
load_results(ids)
for _, id in ipairs(ids) do
  local result = results[id]
  if result and result.status == RS.CREATED then
    set_result_status(result, RS.ABORTED)
  elseif result then
    touch_result(result) -- a stale index entry: rewriting the result corrects it
  else
    redis.call('ZREM', RESULT_STATUSES_KEY, id)
  end
end
flush()
return {'OK', #ids}
