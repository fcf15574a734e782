-- wake: add a wake-up token when items are ready. A pop cancelled while it
-- waited may have taken a token it will not use: this passes it on.
--
-- KEYS[1]  ready set (ZSET)
-- KEYS[2]  wake-up list (LIST)
-- ARGV[1]  most wake-up tokens the list keeps
--
-- Returns 1 when a token was added, else 0.
if redis.call('ZCARD', KEYS[1]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
return 1
