-- state_update_session: compare-and-set of a session's status and flags.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): only KEYS[1] is written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     JSON array of the statuses the session may be in (ints)
-- ARGV[5]     new status (int), or '' to keep it
-- ARGV[6]     name of the timestamp field set to ``at`` with the status, or ''
-- ARGV[7]     client_submission: 'true', 'false' or '' to keep it
-- ARGV[8]     worker_submission: 'true', 'false' or '' to keep it
--
-- Returns {'OK', session JSON}, {'NOT_FOUND', 'session', id} or
-- {'FAILED_PRECONDITION', message} (then nothing is written).
local session = get_session()
if not session then return missing_session() end
local allowed = {}
for _, status in ipairs(cjson.decode(ARGV[4])) do allowed[status] = true end
if not allowed[session.status] then
  local target = ARGV[5] ~= '' and SESSION_STATUS_NAMES[tonumber(ARGV[5])] or 'updated'
  return {'FAILED_PRECONDITION', 'session ' .. SESSION_ID .. ' is ' .. SESSION_STATUS_NAMES[session.status]
    .. ' and cannot be ' .. target}
end
if ARGV[5] ~= '' then
  session.status = tonumber(ARGV[5])
  if ARGV[6] ~= '' then session[ARGV[6]] = AT end
end
if ARGV[7] ~= '' then session.client_submission = ARGV[7] == 'true' end
if ARGV[8] ~= '' then session.worker_submission = ARGV[8] == 'true' end
local json = encode(session)
redis.call('SET', SESSION_KEY, json)
return {'OK', json}
