-- reap: remove the expired leases of a partition and return them. Their
-- items are NOT queued again: the caller decides what becomes of the tasks.
--
-- KEYS[1]  leases (HASH token -> JSON [member, score, agent id, expires at])
-- KEYS[2]  lease expiry (ZSET token by expiry time)
-- KEYS[3]  reply key of this call (the script runs wrapped by replay.lua)
-- ARGV[1]  now, UNIX seconds as a decimal string (the caller's clock);
--          leases expiring at or before it are reaped
-- ARGV[2]  most leases reaped by this call (the caller repeats while full)
--
-- Returns a flat array {token, lease JSON, token, lease JSON, ...}, oldest
-- expiry first.
local tokens = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local reaped = {}
for _, token in ipairs(tokens) do
  local raw = redis.call('HGET', KEYS[1], token)
  if raw then
    reaped[#reaped + 1] = token
    reaped[#reaped + 1] = raw
    redis.call('HDEL', KEYS[1], token)
  end
  redis.call('ZREM', KEYS[2], token)
end
return reaped
