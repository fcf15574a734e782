-- pop: lease the first ready item of a partition to an agent (at-least-once:
-- the item lives on in the lease until it is acked, released or reaped).
--
-- KEYS[1]  ready set (ZSET)
-- KEYS[2]  leases (HASH token -> JSON [member, score, agent id, expires at])
-- KEYS[3]  lease expiry (ZSET token by expiry time)
-- KEYS[4]  wake-up list (LIST)
-- KEYS[5]  reply key of this call (the script runs wrapped by replay.lua)
-- ARGV[1]  lease token (unique per pop)
-- ARGV[2]  agent id
-- ARGV[3]  expiry time, UNIX seconds as a decimal string (the caller's clock)
--
-- Returns {member, score} of the leased item, or false when none is ready.
-- An empty queue drops its stale wake-up tokens; a pop that leaves items
-- behind with no token left passes one on, so that another waiter wakes.
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then
  redis.call('DEL', KEYS[4])
  return false
end
local member, score = popped[1], popped[2]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({member, score, ARGV[2], ARGV[3]}))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[4])
elseif redis.call('LLEN', KEYS[4]) == 0 then
  redis.call('RPUSH', KEYS[4], '1')
end
return {member, score}
