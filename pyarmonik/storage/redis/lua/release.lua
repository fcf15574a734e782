-- release: give a leased item back to its queue at once, with its original
-- score, so it is served before the items of its priority pushed after it.
--
-- KEYS[1]  ready set (ZSET)
-- KEYS[2]  leases (HASH token -> JSON [member, score, agent id, expires at])
-- KEYS[3]  lease expiry (ZSET token by expiry time)
-- KEYS[4]  wake-up list (LIST)
-- ARGV[1]  lease token
-- ARGV[2]  agent id
-- ARGV[3]  most wake-up tokens the list keeps
--
-- Returns 1, or 0 when the lease is gone (a lost lease is not given back).
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then
  return 0
end
local lease = cjson.decode(raw)
if lease[3] ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], lease[2], lease[1])
redis.call('RPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[3]), -1)
return 1
