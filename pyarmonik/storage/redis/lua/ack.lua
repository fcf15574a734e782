-- ack: remove a leased item for good.
--
-- KEYS[1]  leases (HASH token -> JSON [member, score, agent id, expires at])
-- KEYS[2]  lease expiry (ZSET token by expiry time)
-- ARGV[1]  lease token
-- ARGV[2]  agent id
--
-- Returns 1, or 0 when the lease is gone (acked, released or reaped).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw or cjson.decode(raw)[3] ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
