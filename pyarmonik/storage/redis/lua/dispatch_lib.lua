-- dispatch_lib: last part of the prelude of the agent's dispatch scripts
-- (dispatch_*.lua, after state_lib_records, state_lib_graph and
-- state_lib_agent; locals only): the keys of any session and partition
-- queue, leases and pushes, so that one script takes a task from its queue
-- and writes its state (claim), or writes an outcome, acks the lease and
-- queues what the outcome made ready (the finish scripts).
--
-- A dispatch script touches the keys of a partition queue AND of the
-- sessions of the tasks it handles, which it names itself from their ids
-- (KEYS lists its reply key only): it runs on a single-primary Redis (what
-- the operator deploys and ``pyarmonik local`` starts), never on Redis
-- Cluster (see storage/redis/keys.py). The names below mirror keys.py;
-- tests/contract/test_dispatch_redis.py checks that they agree.
--
-- KEYS[1]  reply key of this call (the script runs wrapped by replay.lua)
-- ARGV (every dispatch script starts with these four):
-- ARGV[1]  key prefix (keys.PREFIX)
-- ARGV[2]  the caller's time (UNIX seconds): the only clock
-- ARGV[3]  agent id
-- ARGV[4]  most wake-up tokens a partition's wake-up list keeps
local PREFIX, AGENT_ID, WAKE_CAP = ARGV[1], ARGV[3], tonumber(ARGV[4])
local QUEUE_REGISTRY = PREFIX .. ':queues'
local PRIORITY_SHIFT = 1099511627776 -- 2^40: see push.lua

-- Points the state prelude at the keys of ``session_id``, caches emptied.
local function use_session(session_id)
  local base = PREFIX .. ':session:{' .. session_id .. '}:'
  SESSION_KEY, TASKS_KEY, RESULTS_KEY = base .. 'record', base .. 'tasks', base .. 'results'
  WAITING_KEY, REMAINING_KEY, TASK_STATUSES_KEY = base .. 'waiting', base .. 'remaining', base .. 'task-statuses'
  RESULT_STATUSES_KEY, COUNTS_KEY, CHANNEL = base .. 'result-statuses', base .. 'counts', base .. 'events'
  TASK_IDS_KEY, TASK_CREATED_KEY = base .. 'task-ids', base .. 'task-created'
  SESSION_ID = session_id
  reset_cache()
end

local function queue_keys(partition_id)
  local base = PREFIX .. ':queue:{' .. partition_id .. '}:'
  return {sequence = base .. 'seq', ready = base .. 'ready', leases = base .. 'leases', expiry = base .. 'expiry',
    wake = base .. 'wake'}
end

local function add_wake_tokens(queue, count)
  local tokens = {}
  for i = 1, math.min(count, WAKE_CAP) do tokens[i] = '1' end
  redis.call('RPUSH', queue.wake, unpack(tokens))
  redis.call('LTRIM', queue.wake, -WAKE_CAP, -1)
end

-- Queues ``list`` (SUBMITTED tasks) on their partitions as push.lua does
-- (the member "<seq>:<item JSON>" of ``queue._encode_item``, the same score).
local function push_tasks(list)
  local by_partition, partitions = {}, {}
  for _, task in ipairs(list) do
    local partition = (task.options or {}).partition_id or ''
    if not by_partition[partition] then
      by_partition[partition] = {}
      partitions[#partitions + 1] = partition
    end
    local items = by_partition[partition]
    items[#items + 1] = task
  end
  for _, partition in ipairs(partitions) do
    local queue, items = queue_keys(partition), by_partition[partition]
    redis.call('SADD', QUEUE_REGISTRY, partition)
    local last = redis.call('INCRBY', queue.sequence, #items)
    local batch = {}
    for i, task in ipairs(items) do
      local seq = last - #items + i
      local priority = tonumber((task.options or {}).priority) or 0
      batch[#batch + 1] = -priority * PRIORITY_SHIFT + seq
      batch[#batch + 1] = format('%d', seq) .. ':' .. encode({task.task_id, task.session_id, priority})
      if #batch >= 1000 then
        redis.call('ZADD', queue.ready, unpack(batch))
        batch = {}
      end
    end
    if #batch > 0 then redis.call('ZADD', queue.ready, unpack(batch)) end
    add_wake_tokens(queue, #items)
  end
end

-- The lease ``token`` of ``partition`` if this agent holds it: its JSON
-- [member, score, agent id, expires at], decoded; else nil.
local function held_lease(queue, token)
  if token == '' then return nil end
  local raw = redis.call('HGET', queue.leases, token)
  if not raw then return nil end
  local lease = cjson.decode(raw)
  if lease[3] ~= AGENT_ID then return nil end
  return lease
end

-- Removes the lease for good (ack.lua); 1 when it was held, else 0.
local function ack_lease(partition, token)
  local queue = queue_keys(partition)
  if not held_lease(queue, token) then return 0 end
  redis.call('HDEL', queue.leases, token)
  redis.call('ZREM', queue.expiry, token)
  return 1
end

-- Gives the leased item back to its ready set with its score (release.lua);
-- true when it was held.
local function give_back(partition, token)
  local queue = queue_keys(partition)
  local lease = held_lease(queue, token)
  if not lease then return false end
  redis.call('HDEL', queue.leases, token)
  redis.call('ZREM', queue.expiry, token)
  redis.call('ZADD', queue.ready, lease[2], lease[1])
  add_wake_tokens(queue, 1)
  return true
end

-- {'OK', acked, <JSON of each task>}: the reply of a finish script.
local function finished(acked, list)
  local reply = ok_tasks(list)
  table.insert(reply, 2, acked)
  return reply
end

-- -- end of the prelude; the script's own body follows --------------------------------
