-- depth: the number of items ready in a partition (leased ones not counted).
--
-- KEYS[1]  ready set (ZSET)
-- ARGV     none
--
-- Returns an integer.
return redis.call('ZCARD', KEYS[1])
