-- lib_core: the first part of the pyarmonik Functions library (after the
-- k_<name> key functions generated from storage/redis/keys.py): statuses,
-- the per-call buffers, and the bookkeeping every status change shares
-- (status index, counts, events), written once at the end of each call by
-- flush().
--
-- The library is loaded once (FUNCTION LOAD): nothing here runs per call but
-- the function called. Library-level tables are constants, except `call`,
-- which define() replaces at the start of every call, so nothing leaks from
-- one call to the next.
--
-- Cost is part of the design (docs/agent-hot-path.md): inside a function
-- each redis.call costs about as much as a small command sent by a client,
-- a Lua table or a built key string a few thousand instructions, and every
-- field a redis.call returns becomes a Lua string. So functions read the
-- fields they need (HMGET, never HGETALL on the hot path), build each key
-- once, buffer index writes to send them batched, and create the per-call
-- tables lazily.
--
-- Records are Redis hashes (storage/redis/records.py): a task's immutable
-- fields are one JSON `spec` written by Python and never decoded here; the
-- fields the functions change are plain hash fields. Times are the caller's
-- (an argument, as exact decimal text): Redis TIME is never used.

-- Statuses are the API numbers, as the strings Redis stores and returns:
-- compared and written as they are (no number conversion per call).
local TS = {CREATING = '1', SUBMITTED = '2', DISPATCHED = '3', COMPLETED = '4', ERROR = '5', TIMEOUT = '6',
  CANCELLING = '7', CANCELLED = '8', PROCESSING = '9', RETRIED = '11', PENDING = '12', PAUSED = '13'}
local TASK_STATUS_NAMES = {['1'] = 'CREATING', ['2'] = 'SUBMITTED', ['3'] = 'DISPATCHED', ['4'] = 'COMPLETED',
  ['5'] = 'ERROR', ['6'] = 'TIMEOUT', ['7'] = 'CANCELLING', ['8'] = 'CANCELLED', ['9'] = 'PROCESSING',
  ['11'] = 'RETRIED', ['12'] = 'PENDING', ['13'] = 'PAUSED'}
local FINAL = {['4'] = true, ['5'] = true, ['6'] = true, ['8'] = true, ['11'] = true}
local WAITING = {['1'] = true, ['12'] = true}
local HELD_BY_AGENT = {['3'] = true, ['9'] = true}
local RS = {CREATED = '1', COMPLETED = '2', ABORTED = '3', DELETED = '4'}
local RESULT_STATUS_NAMES = {['1'] = 'CREATED', ['2'] = 'COMPLETED', ['3'] = 'ABORTED', ['4'] = 'DELETED'}
local SS = {RUNNING = '1', CANCELLED = '2', PAUSED = '3', CLOSED = '4', PURGED = '5', DELETED = '6'}
local SESSION_STATUS_NAMES = {['1'] = 'RUNNING', ['2'] = 'CANCELLED', ['3'] = 'PAUSED', ['4'] = 'CLOSED',
  ['5'] = 'PURGED', ['6'] = 'DELETED'}
local EK = {NEW_TASK = '1', TASK_STATUS_UPDATE = '2', NEW_RESULT = '3', RESULT_STATUS_UPDATE = '4',
  RESULT_OWNER_UPDATE = '5'}

local SEP = '\0'
local TAB = '\t'
local REPLY_TTL_MS = 30000
-- Most arguments of one redis.call (unpack() is bounded by Lua's C stack).
local CHUNK = 1000
-- Redis runs a library's top level in a sandbox without Lua's libraries
-- (not even pairs or string): only constants are built there, and the
-- functions below reach the libraries at call time.
local function concat(list, separator) return table.concat(list, separator) end

-- -- per call --------------------------------------------------------------------
-- `call` holds the caller's time and, created when first needed: events
-- (see event()), deltas (counts key ->
-- field -> delta, delta_keys in order), batches ("CMD\0key" -> buffered
-- arguments, batch_keys in order), pushes (lib_queue), results and sessions
-- (lib_graph's caches), pushed (tasks queued).
local call

local function reset(at)
  call = {at = at, pushed = 0}
end

-- The per-call table `name` (and its order list `order`), created on first use.
local function bucket(name, order)
  local t = call[name]
  if not t then
    t = {}
    call[name] = t
    if order then call[order] = {} end
  end
  return t
end

-- -- small helpers -------------------------------------------------------------------
-- The ids of a list field (a task's inputs, outputs: comma-joined ids).
local function split(text)
  if text == nil or text == '' or text == false then return {} end
  if not string.find(text, ',', 1, true) then return {text} end -- one id: the common case
  local out = {}
  for part in string.gmatch(text, '[^,]+') do out[#out + 1] = part end
  return out
end

-- key_fn(part), built once per batching call: the index keys of a
-- session, the counts of a partition are named again for every record a
-- batch touches.
local function memo(key_fn, part)
  if not call.batching then return key_fn(part) end -- one record: nothing to share
  local keys = call.keys
  if not keys then
    keys = {}
    call.keys = keys
  end
  local names = keys[key_fn]
  if not names then
    names = {}
    keys[key_fn] = names
  end
  local name = names[part]
  if not name then
    name = key_fn(part)
    names[part] = name
  end
  return name
end

local function error_reply(code, ...)
  return {code, ...}
end

-- `command key a b`: in a batching call (one that writes many records),
-- buffered and sent in order by flush(), in calls of at most CHUNK
-- arguments: a batch of 500 tasks costs a few calls, not 500; in any other
-- call, sent at once (buffering one record's write costs more than it saves).
local function batch(command, key, a, b)
  if not call.batching then
    if b ~= nil then redis.call(command, key, a, b) else redis.call(command, key, a) end
    return
  end
  local batches = bucket('batches', 'batch_keys')
  local by_key = batches[command]
  if not by_key then
    by_key = {}
    batches[command] = by_key
  end
  local args = by_key[key]
  if not args then
    args = {}
    by_key[key] = args
    local order = call.batch_keys
    order[#order + 1] = command
    order[#order + 1] = key
  end
  local n = #args
  args[n + 1] = a
  if b ~= nil then args[n + 2] = b end
end

-- Adds `by` to a counter field: summed per call and sent by flush() in a
-- batching call, at once in any other.
local function delta(key, field, by)
  if not call.batching then
    redis.call('HINCRBY', key, field, by)
    return
  end
  local deltas = bucket('deltas', 'delta_keys')
  local fields = deltas[key]
  if not fields then
    fields = {}
    deltas[key] = fields
    call.delta_keys[#call.delta_keys + 1] = key
  end
  fields[field] = (fields[field] or 0) + tonumber(by)
end

-- -- events --------------------------------------------------------------------------
-- One line per event, "<kind>\t<status>\t<id>\t<a>\t<b>\t<body>" (the format
-- of storage/redis/codec.py): status updates carry no record; a new task
-- carries its inputs (a), outputs (b) and spec JSON (body); a new result
-- its owner (b) and name (body); an owner update the previous (a) and new
-- (b) owners. flush() PUBLISHes the lines of a call, per session, as one
-- message. They are kept in one flat list (session, line, session, line,
-- ...): most calls touch one session, and a table per session costs more.
local function event(session, line)
  local events = call.events
  if not events then
    events = {}
    call.events = events
  end
  local n = #events
  events[n + 1] = session
  events[n + 2] = line
end

-- PUBLISHes the buffered lines: one message per session, lines in order.
local function publish_events()
  local events = call.events
  if not events then return end
  call.events = nil
  local first, single = events[1], true
  for i = 3, #events, 2 do
    if events[i] ~= first then
      single = false
      break
    end
  end
  if single then -- the common case: no grouping
    if #events == 2 then
      redis.call('PUBLISH', k_events(first), events[2])
      return
    end
    local lines = {}
    for i = 2, #events, 2 do lines[#lines + 1] = events[i] end
    redis.call('PUBLISH', k_events(first), concat(lines, '\n'))
    return
  end
  local by_session, order = {}, {}
  for i = 1, #events, 2 do
    local session = events[i]
    local lines = by_session[session]
    if not lines then
      lines = {}
      by_session[session] = lines
      order[#order + 1] = session
    end
    lines[#lines + 1] = events[i + 1]
  end
  for _, session in ipairs(order) do
    redis.call('PUBLISH', k_events(session), concat(by_session[session], '\n'))
  end
end

-- -- status bookkeeping ------------------------------------------------------------------
-- A task entered `after` (from `before`, nil for a new task): its status
-- index, its partition's counts (whose SUBMITTED count is the partition's
-- runnable depth) and the update event. The caller writes the record's
-- fields (one HSET with the rest).
local function task_moved(session, id, partition, before, after, quiet)
  batch('ZADD', memo(k_task_statuses, session), after, id)
  local counts = memo(k_counts, partition)
  if before then delta(counts, before, '-1') end
  delta(counts, after, '1')
  if not quiet then event(session, EK.TASK_STATUS_UPDATE .. TAB .. after .. TAB .. id .. '\t\t\t') end
end

local function result_moved(session, id, before, after, quiet)
  batch('ZADD', memo(k_result_statuses, session), after, id)
  local counts = k_result_counts()
  if before then delta(counts, before, '-1') end
  delta(counts, after, '1')
  if not quiet then event(session, EK.RESULT_STATUS_UPDATE .. TAB .. after .. TAB .. id .. '\t\t\t') end
end

-- -- flush -------------------------------------------------------------------------------
local function send_batches()
  local batches = call.batches
  if not batches then return end
  local order = call.batch_keys
  for i = 1, #order, 2 do
    local command, key = order[i], order[i + 1]
    local args = batches[command][key]
    for first = 1, #args, CHUNK do
      redis.call(command, key, unpack(args, first, math.min(first + CHUNK - 1, #args)))
    end
  end
end

local function send_counts()
  local deltas = call.deltas
  if not deltas then return end
  for _, key in ipairs(call.delta_keys) do
    for field, by in pairs(deltas[key]) do
      if by ~= 0 then redis.call('HINCRBY', key, field, by) end
    end
  end
end

local flush_queue -- lib_queue's, called by flush()

-- Writes what the call buffered: queue pushes, batched commands, counts,
-- then the events (last, so that a subscriber reading the store on an
-- event sees the change).
local function flush()
  flush_queue()
  send_batches()
  send_counts()
  publish_events()
  call.batches, call.deltas = nil, nil
end

-- -- registration ---------------------------------------------------------------------------
-- Every function takes the caller's time first (exact decimal text) and is
-- registered through define(), which gives it a fresh `call`; `batching`
-- for those that write many records at once (see batch()).
local function define(name, body, read_only, batching)
  local function run(keys, args)
    reset(args[1])
    call.batching = batching
    return body(args)
  end
  if read_only then
    redis.register_function{function_name = name, callback = run, flags = {'no-writes'}}
  else
    redis.register_function(name, run)
  end
end

-- Runs `body` once per request key: a call that redis-py sends again after
-- a broken connection gets the first run's reply (kept REPLY_TTL_MS) instead
-- of being applied twice. For the control plane's batched calls, whose
-- stored reply is cheap per task; the agent's functions are idempotent.
local function once(reply_key, body)
  if reply_key == '' then return body() end
  local kept = redis.call('GET', reply_key)
  if kept then return cmsgpack.unpack(kept) end
  local reply = body()
  redis.call('SET', reply_key, cmsgpack.pack(reply), 'PX', REPLY_TTL_MS)
  return reply
end
