-- replay: wraps a writing script (scripts.replayable puts its body in
-- ``transition``) so that one request is applied once, however often it
-- arrives. redis-py sends a command again when its connection breaks before
-- the reply came back (a Redis restart), and Redis may have run it already:
-- run twice, a pop would lease a second item and lose the first, an
-- acquisition would find its own task taken. The first run keeps its reply
-- under the request's key; a run that finds it answers it and writes nothing.
--
-- KEYS[#KEYS]  the request's reply key (STRING, JSON of the reply), unique
--              per call, tagged like the script's other keys; kept
--              REPLY_TTL_MS, far longer than redis-py retries a command
-- ARGV         the script's own
local REPLY_TTL_MS = 30000

local function replayable(transition)
  local reply_key = KEYS[#KEYS]
  local kept = redis.call('GET', reply_key)
  if kept then
    local reply = cjson.decode(kept)
    if reply == cjson.null then return nil end
    return reply
  end
  local reply = transition()
  local stored = reply
  if stored == nil then stored = cjson.null end
  redis.call('SET', reply_key, cjson.encode(stored), 'PX', REPLY_TTL_MS)
  return reply
end
