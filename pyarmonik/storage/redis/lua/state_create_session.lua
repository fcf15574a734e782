-- state_create_session: stores a new session record.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): only KEYS[1] is written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     the session JSON (codec/records encoding)
--
-- Writes KEYS[1] unless it exists. Returns {'OK'} or {'ALREADY_EXISTS', message}.
if redis.call('EXISTS', SESSION_KEY) == 1 then
  return {'ALREADY_EXISTS', 'session ' .. SESSION_ID .. ' already exists'}
end
redis.call('SET', SESSION_KEY, ARGV[4])
return {'OK'}
