-- lib_queue: the partition queues (after lib_core). The one implementation
-- of push, pop, fair share, caps, leases and wake-ups: every function that
-- makes a task ready, takes one or gives one back goes through these.
--
-- The rule is pyarmonik/core/fair_queue.py's (its docstring states it and
-- its guarantee; tests compare the two): priorities strict; inside a
-- priority, fairness keys share the partition's agents by weight (stride
-- scheduling: a dispatch serves the entry of smallest virtual time and
-- advances it by 1 / weight); a capped key leaves the rotation at its cap
-- until one of its tasks ends; FIFO mode orders by arrival instead.
--
-- Layout (storage/redis/keys.py), per partition P: one rotation (ZSET) of
-- entries scored -L * BAND + virtual time; per (L, S) a FIFO list of task
-- ids (`ready`). An entry is
--   "L\tS"                              session S, weight 1, no cap: the
--                                       default, and the cheapest pop;
--   "L\t\1" kind stride "," cap "\t" K  kind s: session K weighted or
--                                       capped; a/u: application/user K,
--                                       whose sessions (`key_sessions`, a
--                                       list) are served in turn; f: FIFO
--                                       session K, scored by arrival time.
-- A session's QUEUED hash maps "P\tL" to the entry serving its list there:
-- its presence says the session joined (an entry never changes while
-- queued), and unqueue_session reads it to remove everything at once.
--
-- Cost of a pop (calls): a plain session 3 (ZRANGE, LPOP, ZINCRBY), as
-- without fair share, and no number conversion but one pop in ten (its
-- scores are whole numbers); a weighted session the same calls; an
-- application's or user's 4 (+ LMOVE: its sessions in turn); a capped key
-- +1 (HINCRBY; the claim marks the task, +1), +2 when it reaches its cap
-- (park); FIFO 2, +3 when a run begins. Pushes read the partition's
-- configuration only when a session joins. bench/RESULTS.md ("Issue 19")
-- has the instructions per claim, before and after.
--
-- Also here: pa_fair_load, the walk of a partition's keys for metrics.
--
-- Runnable depth is the partition's SUBMITTED count (lib_core's
-- bookkeeping), not list entries: a task cancelled while queued stops
-- counting at once, and its stale entry is dropped when a claim reaches it.
-- Pausing or cancelling a session removes its entries at once
-- (unqueue_session).

-- Most wake-up tokens a partition keeps (waiters woken at once by a push).
local WAKE_CAP = 128
local BAND = 4294967296 -- 2^32: the scores of priority L start at -L * BAND
local HALF = 2147483648 -- a priority whose virtual times pass this is renormalised
local MAX_LEVEL = 1048576 -- a guard: the door keeps priorities in +-4095 (core/ranges.py PRIORITY)
local FIFO_EPOCH = 1700000000 -- FIFO entries are scored by seconds since this
local POP_ROUNDS = 64 -- most entries one pop looks at (each removes or parks one)
local MARK = 1 -- first byte of an entry that is not a plain session, and of a FIFO run's header
local COUNTED = {['3'] = true, ['9'] = true, ['7'] = true} -- held by an agent: counted against a cap
local KINDS = {application = 'a', user = 'u'}

-- A double as exact text (Lua's own number to text keeps 14 digits).
local function num(x) return string.format('%.17g', x) end

local function band(priority)
  local level = tonumber(priority) or 0
  if level > MAX_LEVEL then level = MAX_LEVEL elseif level < -MAX_LEVEL then level = -MAX_LEVEL end
  return -level * BAND
end

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

-- -- fair-share configuration -------------------------------------------------------------
-- The session's status (nil when it does not exist) and what its key is
-- made of (owner, application name, its own weight), cached per call: a
-- call nearly always handles the tasks of one session.
local function read_session(session)
  if call.session ~= session then
    local v = redis.call('HMGET', k_session(session), 'status', 'owner', 'app', 'weight')
    call.session, call.session_status, call.session_owner, call.session_app, call.session_weight =
      session, v[1], v[2], v[3], v[4]
  end
end

-- The partition's configuration (records.fair_share_fields; no hash: the
-- defaults), read once per call, and only when a session joins.
local function fair_config(partition)
  local configs = bucket('fair')
  local config = configs[partition]
  if not config then
    local v = redis.call('HMGET', k_fair(partition), 'mode', 'key', 'weight', 'cap', 'keyed')
    config = {fifo = v[1] == 'fifo', kind = KINDS[v[2]] or 's', weight = tonumber(v[3]) or 1, cap = v[4] or '',
      keyed = v[5] == '1'}
    configs[partition] = config
  end
  return config
end

-- The entry a session joining (partition, priority) gets, with its kind,
-- key and cap ('' for none).
local function entry_for(partition, priority, session)
  local config = fair_config(partition)
  if config.fifo then return priority .. '\t\1f,\t' .. session, 'f', session, '' end
  read_session(session)
  local kind, key = config.kind, session
  if kind == 'a' then key = call.session_app or '' elseif kind == 'u' then key = call.session_owner or '' end
  local weight, cap = config.weight, config.cap
  if config.keyed then
    local v = redis.call('HMGET', k_fair(partition), 'w:' .. key, 'c:' .. key)
    weight, cap = tonumber(v[1]) or weight, v[2] or cap
  end
  if kind == 's' and call.session_weight then weight = tonumber(call.session_weight) or weight end
  local stride = weight == 1 and '' or num(1 / weight)
  if kind == 's' and stride == '' and cap == '' then return priority .. TAB .. session, kind, key, cap end
  return priority .. '\t\1' .. kind .. stride .. ',' .. cap .. TAB .. key, kind, key, cap
end

-- -- the rotation --------------------------------------------------------------------------
-- The smallest score of the band starting at `base`, or `base` when it is empty.
local function band_min(rotation, base)
  local first = redis.call('ZRANGEBYSCORE', rotation, num(base), '(' .. num(base + BAND), 'WITHSCORES', 'LIMIT', 0, 1)
  return first[2] or num(base)
end

-- Puts `member` into the rotation at its priority's smallest virtual time
-- (rounded down for a plain session, whose scores stay whole numbers: see
-- pop_next); a key at its cap (`counted`: its running counter) waits
-- parked instead.
local function join_rotation(partition, priority, member, counted, cap, plain)
  if cap ~= '' and tonumber(redis.call('HGET', k_running(partition), counted) or 0) >= tonumber(cap) then
    redis.call('SADD', k_parked(partition, counted), member)
    return
  end
  local rotation = k_rotation(partition)
  local score = band_min(rotation, band(priority))
  if plain then score = num(math.floor(tonumber(score))) end
  redis.call('ZADD', rotation, score, member)
end

-- A session's first ready tasks at (partition, priority): its entry (or its
-- key's, whose sessions take turns) joins the rotation; the entry is kept
-- in the session's QUEUED hash.
local function enter(partition, priority, session, queued, field)
  local member, kind, key, cap = entry_for(partition, priority, session)
  if kind == 'a' or kind == 'u' then
    local counted, entries = kind .. key, k_key_entries(partition)
    local kfield = priority .. TAB .. counted
    if redis.call('RPUSH', k_key_sessions(partition, priority, counted), session) == 1 then
      redis.call('HSET', entries, kfield, member)
      join_rotation(partition, priority, member, counted, cap)
    else
      member = redis.call('HGET', entries, kfield) or member
    end
  elseif kind == 'f' then
    redis.call('ZADD', k_rotation(partition), num(band(priority) + (tonumber(call.at) - FIFO_EPOCH)), member)
  else
    join_rotation(partition, priority, member, kind .. key, cap, string.byte(member, #priority + 2) ~= MARK)
  end
  redis.call('HSET', queued, field, member)
end

flush_queue = function()
  local pushes = call.pushes
  if not pushes then return end
  local woken = {}
  for _, group in ipairs(call.push_keys) do
    local partition, priority, session, side = string.match(group, '^(.-)%z(.-)%z(.-)%z(.)$')
    local ids = pushes[group]
    local list, queued, field = k_ready(partition, priority, session), k_queued(session), partition .. TAB .. priority
    local member = redis.call('HGET', queued, field)
    if not member then
      enter(partition, priority, session, queued, field)
    elseif side == 't' and string.find(member, '\t\1f', 1, true) then
      -- a FIFO run: its arrival time, read when the pops reach it
      redis.call('RPUSH', list, '\1' .. num(tonumber(call.at) - FIFO_EPOCH))
    end
    local command = side == 'h' and 'LPUSH' or 'RPUSH'
    for first = 1, #ids, CHUNK do
      redis.call(command, list, unpack(ids, first, math.min(first + CHUNK - 1, #ids)))
    end
    if not woken[partition] then
      woken[partition] = 0
      redis.call('SADD', k_queues(), partition)
    end
    woken[partition] = woken[partition] + #ids
  end
  for partition, count in pairs(woken) do add_wake_tokens(partition, count) end
  call.pushes, call.last_push = nil, nil
end

-- -- caps ----------------------------------------------------------------------------------
local function count_running(partition, counted, by)
  local running = k_running(partition)
  local n = redis.call('HINCRBY', running, counted, by)
  if n <= 0 then redis.call('HDEL', running, counted) end
  return n
end

-- One task of a capped key (`counted`) stopped running: its count drops and
-- its parked entries rejoin the rotation (one still at its cap is parked
-- again when a pop reaches it).
local function uncount(partition, counted)
  count_running(partition, counted, -1)
  local parked = k_parked(partition, counted)
  local members = redis.call('SMEMBERS', parked)
  if #members == 0 then return end
  redis.call('DEL', parked)
  local rotation = k_rotation(partition)
  for _, member in ipairs(members) do
    redis.call('ZADD', rotation, band_min(rotation, band(string.match(member, '^(.-)\t'))), member)
  end
  add_wake_tokens(partition, #members)
end

local function park(partition, rotation, member, counted)
  redis.call('ZREM', rotation, member)
  redis.call('SADD', k_parked(partition, counted), member)
end

-- -- pops ----------------------------------------------------------------------------------
-- Moves the band starting at `base` back by the whole part of its smallest
-- virtual time (its times passed HALF; whole, so that plain entries' scores
-- stay whole): rare, O(entries of the priority).
local function renormalise(rotation, base)
  local found = redis.call('ZRANGEBYSCORE', rotation, num(base), '(' .. num(base + BAND), 'WITHSCORES')
  local shift, args = math.floor(tonumber(found[2]) - base), {}
  for i = 1, #found, 2 do
    args[#args + 1] = num(tonumber(found[i + 1]) - shift)
    args[#args + 1] = found[i]
  end
  for first = 1, #args, CHUNK do redis.call('ZADD', rotation, unpack(args, first, math.min(first + CHUNK - 1, #args))) end
end

-- A score's virtual time is the score modulo BAND (a band starts at a multiple of it).
local function advance(rotation, member, priority, stride)
  if tonumber(redis.call('ZINCRBY', rotation, stride, member)) % BAND > HALF then
    renormalise(rotation, band(priority))
  end
end

-- `session`'s list at (partition, priority) ran dry: it leaves its key's
-- turns, and the entry leaves the rotation when no session is left in it.
local function leave(partition, rotation, priority, session, member, kind, key)
  redis.call('HDEL', k_queued(session), partition .. TAB .. priority)
  if kind == 'a' or kind == 'u' then
    local counted = kind .. key
    local sessions = k_key_sessions(partition, priority, counted)
    redis.call('LREM', sessions, -1, session)
    if redis.call('LLEN', sessions) > 0 then return end
    redis.call('HDEL', k_key_entries(partition), priority .. TAB .. counted)
  end
  redis.call('ZREM', rotation, member)
end

-- A pop on an entry that is not a plain session: (id, session, counted) or nil.
local function pop_entry(partition, rotation, member, priority, rest)
  local kind, stride, cap, key = string.match(rest, '^\1(.)([^,]*),([^\t]*)\t(.*)$')
  local session, counted, running = key, nil, nil
  if kind == 'a' or kind == 'u' then
    local sessions = k_key_sessions(partition, priority, kind .. key)
    session = redis.call('LMOVE', sessions, sessions, 'LEFT', 'RIGHT')
    if not session then -- no session left (the last to leave removes the entry: not expected)
      redis.call('ZREM', rotation, member)
      redis.call('HDEL', k_key_entries(partition), priority .. TAB .. kind .. key)
      return nil
    end
  end
  if cap ~= '' then
    counted = kind .. key
    running = count_running(partition, counted, 1)
    if running > tonumber(cap) then
      count_running(partition, counted, -1)
      park(partition, rotation, member, counted)
      return nil
    end
  end
  local id = redis.call('LPOP', k_ready(partition, priority, session))
  if id and string.byte(id) == MARK then -- a FIFO run begins: its arrival time orders it
    redis.call('ZADD', rotation, 'XX', num(band(priority) + tonumber(string.sub(id, 2))), member)
    return nil
  end
  if not id then
    if counted then count_running(partition, counted, -1) end
    leave(partition, rotation, priority, session, member, kind, key)
    return nil
  end
  if kind ~= 'f' then advance(rotation, member, priority, stride == '' and '1' or stride) end
  if counted and running >= tonumber(cap) then park(partition, rotation, member, counted) end
  return id, session, counted
end

-- The next queued task of the partition: (task id, session, the running
-- counter it holds or nil), its entry out of the queue; or nil and true
-- when the rotation is empty (nil and false: nothing found in POP_ROUNDS
-- entries). The entry may be stale (the task cancelled or taken since):
-- the caller admits what it pops, and `uncount`s a counter it does not
-- run. An entry whose list ran dry leaves when a pop finds it empty (no
-- LLEN per pop).
local function pop_next(partition, rotation)
  for _ = 1, POP_ROUNDS do
    local first = redis.call('ZRANGE', rotation, 0, 0)
    local member = first[1]
    if not member then return nil, true end
    local priority, rest = string.match(member, '^(.-)\t(.*)$')
    if string.byte(rest) ~= MARK then -- a plain session: weight 1, no cap
      local id = redis.call('LPOP', k_ready(partition, priority, rest))
      if id then
        -- Its score is a whole number (it joins at one, moves by 1 and by whole
        -- renormalisations): one pop in ten (a score ending in 0) looks for
        -- virtual times past HALF, sparing the others a number conversion.
        local score = redis.call('ZINCRBY', rotation, '1', member)
        if string.byte(score, -1) == 48 and tonumber(score) % BAND > HALF then
          renormalise(rotation, band(priority))
        end
        return id, rest
      end
      leave(partition, rotation, priority, rest, member)
    else
      local id, session, counted = pop_entry(partition, rotation, member, priority, rest)
      if id then return id, session, counted end
    end
  end
  return nil, false
end

-- Removes every queued entry of a session (pause, cancel, delete): its
-- lists, its places in its keys' turns and the entries only it kept.
local function unqueue_session(session)
  local queued = k_queued(session)
  local entries = redis.call('HGETALL', queued)
  for i = 1, #entries, 2 do
    local partition, priority = string.match(entries[i], '^(.-)\t(.*)$')
    local member, rotation = entries[i + 1], k_rotation(partition)
    redis.call('DEL', k_ready(partition, priority, session))
    local kind, _, cap, key = string.match(string.sub(member, #priority + 2), '^\1(.)([^,]*),([^\t]*)\t(.*)$')
    local only = true
    if kind == 'a' or kind == 'u' then
      local sessions = k_key_sessions(partition, priority, kind .. key)
      redis.call('LREM', sessions, 0, session)
      only = redis.call('LLEN', sessions) == 0
      if only then redis.call('HDEL', k_key_entries(partition), priority .. TAB .. kind .. key) end
    end
    if only then
      redis.call('ZREM', rotation, member)
      if kind and cap ~= '' then redis.call('SREM', k_parked(partition, kind .. key), member) end
    end
  end
  redis.call('DEL', queued)
end

-- -- load, for metrics --------------------------------------------------------------------
-- The parked entries of a partition, in name order.
local function parked_members(partition)
  local members = {}
  for _, counted in ipairs(redis.call('HKEYS', k_running(partition))) do
    for _, member in ipairs(redis.call('SMEMBERS', k_parked(partition, counted))) do members[#members + 1] = member end
  end
  table.sort(members)
  return members
end

-- Up to `budget` leases of the partition from rank `index` counted as
-- running tasks of their session's key, into `load_of`; whether more remain.
local function count_leases(partition, index, budget, load_of)
  local config, keys_of = fair_config(partition), {}
  local leases = redis.call('ZRANGE', k_leases(partition), index, index + budget - 1)
  for _, lease in ipairs(leases) do
    local session = string.match(lease, '^(.-)\t')
    local counted = keys_of[session]
    if not counted then
      counted = 's' .. session
      if not config.fifo and config.kind ~= 's' then
        read_session(session)
        counted = config.kind .. ((config.kind == 'a' and call.session_app or call.session_owner) or '')
      end
      keys_of[session] = counted
    end
    local load = load_of(counted)
    load[2] = load[2] + 1
  end
  return #leases == budget
end

-- pa_fair_load(at, P, phase, index, offset, budget) -> {'OK', next phase,
-- index, offset, then key (kind + key), queued, running, capped (1/0), ...}
-- One step of a walk of the partition's keys for metrics, reading at most
-- `budget` leases or sessions' lists (a few ms of Redis): the caller starts
-- at (0, 0, 0), calls again with the cursor returned until its phase is 3,
-- and adds the steps up. Phase 0 counts the running tasks (the leases from
-- rank `index`, by their session's key under the partition's
-- configuration), phase 1 the queued ones of the rotation's entries from
-- rank `index`, phase 2 those of the parked entries (in name order);
-- `offset` is the next session of an application's or user's entry whose
-- sessions were not all read. Queued counts the entries of the lists; the
-- queues may move between steps: an approximate count, never a dispatch.
define('pa_fair_load', function(args)
  local partition, phase, index, offset, budget =
    args[2], tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  local loads, order = {}, {}
  local function load_of(counted)
    local load = loads[counted]
    if not load then
      load = {0, 0, 0}
      loads[counted] = load
      order[#order + 1] = counted
    end
    return load
  end
  local function reply_with(cursor)
    local reply = {'OK', cursor[1], cursor[2], cursor[3]}
    for _, counted in ipairs(order) do
      local load = loads[counted]
      for _, value in ipairs({counted, load[1], load[2], load[3]}) do reply[#reply + 1] = value end
    end
    return reply
  end
  if phase == 0 then
    return reply_with(count_leases(partition, index, budget, load_of) and {0, index + budget, 0} or {1, 0, 0})
  end
  local members, asked = nil, budget
  if phase == 1 then
    members = redis.call('ZRANGE', k_rotation(partition), index, index + asked - 1)
  else
    members = parked_members(partition)
    for _ = 1, index do table.remove(members, 1) end
  end
  local cursor = nil
  for i, member in ipairs(members) do
    local priority, rest = string.match(member, '^(.-)\t(.*)$')
    local kind, key, sessions = 's', rest, nil
    if string.byte(rest) == MARK then
      local found_kind, _, _, found_key = string.match(rest, '^\1(.)([^,]*),([^\t]*)\t(.*)$')
      kind, key = found_kind, found_key
    end
    if kind == 'a' or kind == 'u' then
      sessions = redis.call('LRANGE', k_key_sessions(partition, priority, kind .. key), offset, offset + budget - 1)
    else
      kind, sessions = 's', {key}
    end
    local load = load_of(kind .. key)
    for _, session in ipairs(sessions) do load[1] = load[1] + redis.call('LLEN', k_ready(partition, priority, session)) end
    if phase == 2 then load[3] = 1 end
    budget = budget - #sessions
    if budget <= 0 then
      -- this entry's sessions may go on: the next step starts where this one stopped
      cursor = #sessions > 0 and (kind == 'a' or kind == 'u') and {phase, index + i - 1, offset + #sessions}
        or {phase, index + i, 0}
      break
    end
    offset = 0
  end
  if not cursor and phase == 1 and #members == asked then cursor = {1, index + #members, 0} end -- more entries
  return reply_with(cursor or (phase == 1 and {2, 0, 0} or {3, 0, 0}))
end, true)

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
