-- renew: move the expiry of a lease that its agent still holds.
--
-- KEYS[1]  leases (HASH token -> JSON [member, score, agent id, expires at])
-- KEYS[2]  lease expiry (ZSET token by expiry time)
-- ARGV[1]  lease token
-- ARGV[2]  agent id
-- ARGV[3]  new expiry time, UNIX seconds as a decimal string
--
-- Returns 1, or 0 when the lease is gone (acked, released or reaped).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
local lease = cjson.decode(raw)
if lease[3] ~= ARGV[2] then
  return 0
end
lease[4] = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(lease))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
