-- lib_queue: the partition queues (after lib_core). The one implementation
-- of push, pop, leases and wake-ups: every function that makes a task
-- ready, takes one or gives one back goes through these.
--
-- Layout (storage/redis/keys.py): per partition P, one rotation (a ZSET)
-- of "L\tS" for each priority L and session S with ready tasks at L, and
-- per (L, S) a FIFO list of task ids (`ready`). A member's score is
-- -L * 2^40 + its virtual time: the lowest score is the highest priority
-- first, then, inside a priority, the session served least so far.
--
-- Dispatch (pop_next): the rotation's first member; its list gives the
-- task, and its virtual time advances by one (equal weights): sessions of
-- one priority share a partition's agents in turn instead of first come,
-- first served (a 20-task session is not queued behind a million-task
-- one), and priorities stay strict. A session that joins a priority's
-- rotation starts at that priority's smallest virtual time, so it is served
-- within a round, never ahead of the sessions already waiting by more than
-- that. Scores stay exact doubles while |L| < 4096 and a session's virtual
-- time < 2^40 (core/limits.py bounds priorities).
--
-- Runnable depth is the partition's SUBMITTED count (lib_core's
-- bookkeeping), not list entries: a task cancelled while queued stops
-- counting at once, and its stale entry is dropped when a claim reaches it.
-- Pausing or cancelling a session removes its entries from the rotation at
-- once (unqueue_session). A pop costs three calls: ZRANGE, LPOP, ZINCRBY.

-- Most wake-up tokens a partition keeps (waiters woken at once by a push).
local WAKE_CAP = 128
local LEVEL = 1099511627776 -- 2^40: the score of priority L starts at -L * LEVEL

-- Buffers `id` to be queued at the tail (or head, for a task given back) of
-- its session's list; flush_queue() writes one RPUSH/LPUSH per list.
local function push(partition, priority, session, id, at_head)
  local side = at_head and 'h' or 't'
  local last = call.last_push -- a batch queues its tasks on one list: its group is named once
  if not (last and last[1] == partition and last[2] == priority and last[3] == session and last[4] == side) then
    local group = partition .. SEP .. priority .. SEP .. session .. SEP .. side
    local pushes = bucket('pushes', 'push_keys')
    local ids = pushes[group]
    if not ids then
      ids = {}
      pushes[group] = ids
      call.push_keys[#call.push_keys + 1] = group
    end
    last = {partition, priority, session, side, ids}
    call.last_push = last
  end
  local ids = last[5]
  ids[#ids + 1] = id
  call.pushed = call.pushed + 1
end

local function add_wake_tokens(partition, count)
  local tokens = {}
  for i = 1, math.min(count, WAKE_CAP) do tokens[i] = '1' end
  local wake = k_wake(partition)
  redis.call('RPUSH', wake, unpack(tokens))
  redis.call('LTRIM', wake, -WAKE_CAP, -1)
end

-- Puts (priority, session) in the partition's rotation, at the priority's
-- smallest virtual time (its base when it is empty), unless it is there.
local function join_rotation(partition, priority, session)
  local rotation, member = k_rotation(partition), priority .. TAB .. session
  if redis.call('ZSCORE', rotation, member) then return end
  local base = -tonumber(priority) * LEVEL
  local first = redis.call('ZRANGEBYSCORE', rotation, base, '(' .. (base + LEVEL), 'WITHSCORES', 'LIMIT', 0, 1)
  redis.call('ZADD', rotation, first[2] or base, member)
  redis.call('SADD', k_queued(session), partition .. TAB .. priority)
end

flush_queue = function()
  local pushes = call.pushes
  if not pushes then return end
  local woken = {}
  for _, group in ipairs(call.push_keys) do
    local partition, priority, session, side = string.match(group, '^(.-)%z(.-)%z(.-)%z(.)$')
    local ids = pushes[group]
    local list = k_ready(partition, priority, session)
    local command = side == 'h' and 'LPUSH' or 'RPUSH'
    for first = 1, #ids, CHUNK do
      redis.call(command, list, unpack(ids, first, math.min(first + CHUNK - 1, #ids)))
    end
    join_rotation(partition, priority, session)
    if not woken[partition] then
      woken[partition] = 0
      redis.call('SADD', k_queues(), partition)
    end
    woken[partition] = woken[partition] + #ids
  end
  for partition, count in pairs(woken) do add_wake_tokens(partition, count) end
  call.pushes, call.last_push = nil, nil
end

-- The next queued task of the partition: (task id, session) or nil; its
-- entry leaves the queue. The entry may be stale (the task cancelled or
-- taken since): the caller admits what it pops. A session whose list ran
-- dry leaves the rotation when a pop finds it empty (no LLEN per pop).
local function pop_next(partition, rotation)
  for _ = 1, 64 do -- bounded: each empty round removes a rotation entry
    local first = redis.call('ZRANGE', rotation, 0, 0)
    local member = first[1]
    if not member then return nil end
    local priority, session = string.match(member, '^(.-)\t(.*)$')
    local id = redis.call('LPOP', k_ready(partition, priority, session))
    if id then
      redis.call('ZINCRBY', rotation, 1, member)
      return id, session
    end
    redis.call('ZREM', rotation, member)
    redis.call('SREM', k_queued(session), partition .. TAB .. priority)
  end
  return nil
end

-- Removes every queued entry of a session (pause, cancel, delete): its
-- lists, and its places in the rotations.
local function unqueue_session(session)
  local queued = k_queued(session)
  for _, entry in ipairs(redis.call('SMEMBERS', queued)) do
    local partition, priority = string.match(entry, '^(.-)\t(.*)$')
    redis.call('DEL', k_ready(partition, priority, session))
    redis.call('ZREM', k_rotation(partition), priority .. TAB .. session)
  end
  redis.call('DEL', queued)
end

-- -- leases ------------------------------------------------------------------------------
-- A lease is the member "S\tT" of its partition's `leases`, scored by its
-- expiry; the task's hash holds the agent (`owner`).
local function lease_member(session, id) return session .. TAB .. id end

-- Removes the lease of `task` (a view read in this call) for good, if
-- `agent` holds it: the member "S\tT" is the task's, whoever holds it, so
-- a late agent must never remove its successor's. 1 when removed.
local function ack_lease(partition, task, agent)
  if partition == '' or task.owner ~= agent then return 0 end
  return redis.call('ZREM', k_leases(partition), lease_member(task.session, task.id))
end
