-- push: queue items in a partition, ordered by priority then push order.
--
-- KEYS[1]  queue sequence counter (STRING, INCRBY)
-- KEYS[2]  ready set (ZSET)
-- KEYS[3]  wake-up list (LIST)
-- KEYS[4]  reply key of this call (the script runs wrapped by replay.lua)
-- ARGV[1]  most wake-up tokens the list keeps
-- ARGV[2i], ARGV[2i+1] (i = 1..n)  priority of item i (integer, |p| < 4096),
--          then its encoding (opaque to this script)
--
-- Each item gets the next sequence number; its member is "<seq>:<encoding>"
-- and its score -priority * 2^40 + seq: higher priority first, FIFO inside a
-- priority. Scores stay below 2^53 in magnitude (seq < 2^40), so doubles hold
-- them exactly. One wake-up token per item (at most ARGV[1]) lets waiting pops
-- return. Returns the number of items queued.
local count = (#ARGV - 1) / 2
if count < 1 then
  return 0
end
local last = redis.call('INCRBY', KEYS[1], count)
local first = last - count + 1
local batch = {}
for i = 1, count do
  local seq = first + i - 1
  local priority = tonumber(ARGV[2 * i])
  batch[#batch + 1] = -priority * 1099511627776 + seq
  batch[#batch + 1] = string.format('%d', seq) .. ':' .. ARGV[2 * i + 1]
  if #batch >= 1000 then
    redis.call('ZADD', KEYS[2], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('ZADD', KEYS[2], unpack(batch))
end
local cap = tonumber(ARGV[1])
local tokens = {}
for i = 1, math.min(count, cap) do
  tokens[i] = '1'
end
redis.call('RPUSH', KEYS[3], unpack(tokens))
redis.call('LTRIM', KEYS[3], -cap, -1)
return count
