-- state_lib_records: first half of the prelude of every state_*.lua script
-- (then state_lib_graph, then the script's body; locals only): the keys and
-- arguments every state script shares, the record encoder, the per-run
-- record cache and the events.
--
-- KEYS (every state script takes these eleven, all tagged with {session id}):
-- KEYS[1]  session record (STRING, JSON)
-- KEYS[2]  tasks of the session (HASH task id -> task JSON)
-- KEYS[3]  results of the session (HASH result id -> result JSON)
-- KEYS[4]  waiting (ZSET, score 0, members "<result id>\0<task id>": the
--          tasks waiting on each result, read by lexicographic range)
-- KEYS[5]  remaining (HASH task id -> JSON array of the result ids it awaits)
-- KEYS[6]  task statuses (ZSET task id by status): the tasks in a status
--          without reading every task, and counts by status
-- KEYS[7]  result statuses (ZSET result id by status)
-- KEYS[8]  counts (HASH "task:<status>:<partition id>" -> tasks,
--          "result:<status>" -> results): kept by flush() with HINCRBY, so
--          that metrics count without reading a record
-- KEYS[9]  task ids (ZSET, score 0, member task id): the tasks in id order,
--          so that a list page is a ZRANGE, not a sort of every id
-- KEYS[10] task creation (ZSET task id by created_at): the tasks in creation
--          order; both indexes are written by flush() for the tasks a run
--          creates (insert_task), and only deleted with the session
-- KEYS[11] reply key of this call (every state script runs wrapped by
--          replay.lua, which keeps its reply there)
-- ARGV (every state script starts with these three):
-- ARGV[1]  pub/sub channel of the session's events
-- ARGV[2]  the caller's time (UNIX seconds): the only clock
-- ARGV[3]  the session id
--
-- Reads are cached per script run; writes go through touch_* and are
-- written by flush(), which also keeps the status indexes and the counts and
-- PUBLISHes the events in order, all of one run in one message. Scripts validate before their first write and answer
-- {'OK', ...} or {'<ERROR CODE>', ...} (see storage/redis/state_scripts.py).
--
-- Records are encoded by encode() below rather than cjson.encode: cjson keeps
-- 14 significant digits (UNIX times need 16 or 17) and writes empty arrays as
-- objects.

-- Not constants: the agent's dispatch scripts (dispatch_lib) point them at
-- the session of each task they handle (use_session).
local SESSION_KEY, TASKS_KEY, RESULTS_KEY, WAITING_KEY, REMAINING_KEY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local TASK_STATUSES_KEY, RESULT_STATUSES_KEY, COUNTS_KEY = KEYS[6], KEYS[7], KEYS[8]
local TASK_IDS_KEY, TASK_CREATED_KEY = KEYS[9], KEYS[10]
local CHANNEL, AT, SESSION_ID = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local SEP = '\0'

local TS = {CREATING = 1, SUBMITTED = 2, DISPATCHED = 3, COMPLETED = 4, ERROR = 5, TIMEOUT = 6, CANCELLING = 7,
  CANCELLED = 8, PROCESSING = 9, RETRIED = 11, PENDING = 12, PAUSED = 13}
local TASK_STATUS_NAMES = {}
for name, value in pairs(TS) do TASK_STATUS_NAMES[value] = name end
local FINAL = {[TS.COMPLETED] = true, [TS.ERROR] = true, [TS.TIMEOUT] = true, [TS.CANCELLED] = true,
  [TS.RETRIED] = true}
local WAITING = {[TS.CREATING] = true, [TS.PENDING] = true}
local HELD_BY_AGENT = {[TS.DISPATCHED] = true, [TS.PROCESSING] = true}
local RS = {CREATED = 1, COMPLETED = 2, ABORTED = 3, DELETED = 4}
local RESULT_STATUS_NAMES = {[1] = 'CREATED', [2] = 'COMPLETED', [3] = 'ABORTED', [4] = 'DELETED'}
local SS = {RUNNING = 1, CANCELLED = 2, PAUSED = 3, CLOSED = 4, PURGED = 5, DELETED = 6}
local SESSION_STATUS_NAMES = {}
for name, value in pairs(SS) do SESSION_STATUS_NAMES[value] = name end
local EK = {NEW_TASK = 1, TASK_STATUS_UPDATE = 2, NEW_RESULT = 3, RESULT_STATUS_UPDATE = 4, RESULT_OWNER_UPDATE = 5}

-- -- JSON encoding ------------------------------------------------------------
local ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
for code = 0, 31 do
  local char = string.char(code)
  ESCAPES[char] = ESCAPES[char] or string.format('\\u%04x', code)
end
ESCAPES[string.char(127)] = '\\u007f'
-- Keys whose empty table is an object; every other empty table is an array.
local OBJECT_KEYS = {options = true, pod_configuration = true}
-- Keys holding seconds: written as floats even when integral ("5.0"), so
-- that Python reads back the float it wrote.
local FLOAT_KEYS = {}
for _, key in ipairs({'max_duration', 'pod_ttl', 'created_at', 'submitted_at', 'received_at', 'acquired_at',
  'fetched_at', 'started_at', 'processed_at', 'ended_at', 'completed_at', 'cancelled_at', 'closed_at',
  'purged_at', 'deleted_at'}) do
  FLOAT_KEYS[key] = true
end
local NULL, format, find, gsub, concat, floor = cjson.null, string.format, string.find, string.gsub, table.concat,
  math.floor

local function quote(text)
  if find(text, '[%c"\\]') then text = gsub(text, '[%c"\\]', ESCAPES) end
  return '"' .. text .. '"'
end

-- '"<key>":' of each key, made once.
local KEY_PREFIXES = setmetatable({}, {__index = function(cache, key)
  local prefix = quote(key) .. ':'
  cache[key] = prefix
  return prefix
end})

-- Integers exactly; other numbers with the fewest of 16 or 17 significant
-- digits that read back as the same double.
local function number(value, key)
  if value == floor(value) and value > -1e15 and value < 1e15 then
    return format(FLOAT_KEYS[key] and '%d.0' or '%d', value)
  end
  local text = format('%.16g', value)
  if tonumber(text) ~= value then text = format('%.17g', value) end
  return text
end

-- Records are written compact: a field that is null, '' or an empty list or
-- map is left out (every decoder reads it back as the model's default).
local encode
local function encode_table(value, key)
  if next(value) == nil then
    return OBJECT_KEYS[key] and '{}' or '[]'
  end
  local parts = {}
  if value[1] ~= nil then
    for i = 1, #value do parts[i] = encode(value[i]) end
    return '[' .. concat(parts, ',') .. ']'
  end
  local n = 0
  for k, v in pairs(value) do
    if v ~= NULL and v ~= '' and (type(v) ~= 'table' or next(v) ~= nil) then
      n = n + 1
      parts[n] = KEY_PREFIXES[k] .. encode(v, k)
    end
  end
  return '{' .. concat(parts, ',') .. '}'
end

encode = function(value, key)
  local kind = type(value)
  if kind == 'string' then
    return quote(value)
  elseif kind == 'number' then
    return number(value, key)
  elseif kind == 'boolean' then
    return value and 'true' or 'false'
  elseif kind == 'table' then
    return encode_table(value, key)
  end
  return 'null'
end

-- The fields the scripts read, given their defaults where a compact record
-- left them out.
local TASK_LISTS = {'data_dependencies', 'expected_output_ids', 'parent_task_ids', 'retry_of_ids'}
local TASK_TEXTS = {'payload_id', 'initial_task_id', 'created_by', 'owner_pod_id', 'pod_hostname'}
local function decode_task(raw)
  local task = cjson.decode(raw)
  for _, name in ipairs(TASK_LISTS) do task[name] = task[name] or {} end
  for _, name in ipairs(TASK_TEXTS) do task[name] = task[name] or '' end
  return task
end

local function decode_result(raw)
  local result = cjson.decode(raw)
  result.owner_task_id, result.created_by = result.owner_task_id or '', result.created_by or ''
  return result
end

-- -- cached records -------------------------------------------------------------
local tasks, results = {}, {} -- id -> decoded record, false when absent
local task_json, result_json = {}, {} -- id -> JSON of the record as it is now
local dirty_tasks, dirty_results = {}, {} -- ids in first-write order
local is_dirty_task, is_dirty_result = {}, {}
local events, ready = {}, {}
local new_tasks = {} -- ids of the tasks this run creates, for the sorted indexes
local session_record
-- id -> status of the record as stored (absent for one this run creates):
-- what flush() takes off the counts when the status changed.
local stored_task_status, stored_result_status = {}, {}

-- Empties the caches: what a script that handles several sessions does
-- before it turns to the next one (dispatch_lib's use_session).
local function reset_cache()
  tasks, results, task_json, result_json = {}, {}, {}, {}
  dirty_tasks, dirty_results, is_dirty_task, is_dirty_result = {}, {}, {}, {}
  events, ready, session_record = {}, {}, nil
  stored_task_status, stored_result_status = {}, {}
end

local function get_session()
  if session_record == nil then
    local raw = redis.call('GET', SESSION_KEY)
    session_record = raw and cjson.decode(raw) or false
  end
  return session_record or nil
end

local function cache_loaded(cache, json_cache, ids, raws, decode)
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if raw then
      cache[id] = decode(raw)
      json_cache[id] = raw
    else
      cache[id] = false
    end
  end
end

-- Loads the records of ``ids`` not cached yet, 500 per HMGET.
local function load(key, cache, json_cache, ids, decode)
  local wanted = {}
  for _, id in ipairs(ids) do
    if cache[id] == nil then wanted[#wanted + 1] = id end
  end
  for first = 1, #wanted, 500 do
    local chunk = {unpack(wanted, first, math.min(first + 499, #wanted))}
    cache_loaded(cache, json_cache, chunk, redis.call('HMGET', key, unpack(chunk)), decode)
  end
end

local function decode_stored_task(raw)
  local task = decode_task(raw)
  stored_task_status[task.task_id] = task.status
  return task
end

local function decode_stored_result(raw)
  local result = decode_result(raw)
  stored_result_status[result.result_id] = result.status
  return result
end

local function get_task(id)
  if tasks[id] == nil then load(TASKS_KEY, tasks, task_json, {id}, decode_stored_task) end
  return tasks[id] or nil
end

local function get_result(id)
  if results[id] == nil then load(RESULTS_KEY, results, result_json, {id}, decode_stored_result) end
  return results[id] or nil
end

local function load_tasks(ids) load(TASKS_KEY, tasks, task_json, ids, decode_stored_task) end
local function load_results(ids) load(RESULTS_KEY, results, result_json, ids, decode_stored_result) end

local function touch_task(task)
  local id = task.task_id
  tasks[id], task_json[id] = task, nil
  if not is_dirty_task[id] then
    is_dirty_task[id] = true
    dirty_tasks[#dirty_tasks + 1] = id
  end
end

local function touch_result(result)
  local id = result.result_id
  results[id], result_json[id] = result, nil
  if not is_dirty_result[id] then
    is_dirty_result[id] = true
    dirty_results[#dirty_results + 1] = id
  end
end

local function json_of_task(task)
  local id = task.task_id
  if task_json[id] == nil then task_json[id] = encode(task) end
  return task_json[id]
end

local function json_of_result(result)
  local id = result.result_id
  if result_json[id] == nil then result_json[id] = encode(result) end
  return result_json[id]
end

-- -- events (the compact lines of codec.encode_events) ---------------------------
-- One line per event, "<kind>\t<status>\t<id>\t<previous owner>\t<current
-- owner>\t<record JSON>": subscribers read the kind, status and id without
-- decoding the JSON. flush() PUBLISHes the lines of a run as one message.
local function task_event(kind, task)
  events[#events + 1] = kind .. '\t' .. task.status .. '\t' .. task.task_id .. '\t\t\t' .. json_of_task(task)
end

local function result_event(kind, result, previous, current)
  events[#events + 1] = kind .. '\t' .. result.status .. '\t' .. result.result_id .. '\t' .. (previous or '')
    .. '\t' .. (current or '') .. '\t' .. json_of_result(result)
end

-- Runs ``command key a1 b1 a2 b2 ...`` over (pair(id)) of each id, 500 pairs a call.
local function pairs_command(command, key, ids, pair)
  local batch = {}
  for _, id in ipairs(ids) do
    local a, b = pair(id)
    batch[#batch + 1] = a
    batch[#batch + 1] = b
    if #batch >= 1000 then
      redis.call(command, key, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call(command, key, unpack(batch)) end
end

local function task_record(id) return id, json_of_task(tasks[id]) end
local function result_record(id) return id, json_of_result(results[id]) end
local function task_status(id) return tasks[id].status, id end
local function task_in_id_order(id) return 0, id end
-- number(): redis.call would write a Lua number with 14 digits only.
local function task_created(id) return number(tasks[id].created_at or 0), id end
local function result_status(id) return results[id].status, id end

-- Moves each touched record whose status changed from its stored status's
-- count to its new one: one HINCRBY per field changed, a field that reaches 0
-- removed.
local function count_statuses()
  local deltas, fields = {}, {}
  local function add(field, delta)
    if deltas[field] == nil then
      deltas[field] = 0
      fields[#fields + 1] = field
    end
    deltas[field] = deltas[field] + delta
  end
  for _, id in ipairs(dirty_tasks) do
    local task, before = tasks[id], stored_task_status[id]
    if before ~= task.status then
      local partition = (task.options or {}).partition_id or ''
      if before then add('task:' .. before .. ':' .. partition, -1) end
      add('task:' .. task.status .. ':' .. partition, 1)
      stored_task_status[id] = task.status
    end
  end
  for _, id in ipairs(dirty_results) do
    local result, before = results[id], stored_result_status[id]
    if before ~= result.status then
      if before then add('result:' .. before, -1) end
      add('result:' .. result.status, 1)
      stored_result_status[id] = result.status
    end
  end
  for _, field in ipairs(fields) do
    if deltas[field] ~= 0 and redis.call('HINCRBY', COUNTS_KEY, field, deltas[field]) == 0 then
      redis.call('HDEL', COUNTS_KEY, field)
    end
  end
end

-- Writes every touched record, its status and the task counts, then
-- publishes the events.
local function flush()
  count_statuses()
  pairs_command('HSET', TASKS_KEY, dirty_tasks, task_record)
  pairs_command('ZADD', TASK_STATUSES_KEY, dirty_tasks, task_status)
  pairs_command('ZADD', TASK_IDS_KEY, new_tasks, task_in_id_order)
  pairs_command('ZADD', TASK_CREATED_KEY, new_tasks, task_created)
  pairs_command('HSET', RESULTS_KEY, dirty_results, result_record)
  pairs_command('ZADD', RESULT_STATUSES_KEY, dirty_results, result_status)
  if #events > 0 then redis.call('PUBLISH', CHANNEL, concat(events, '\n')) end
end

-- {'OK', <JSON of each task>} for a list of tasks, as they are now.
local function ok_tasks(list)
  local reply = {'OK'}
  for _, task in ipairs(list) do reply[#reply + 1] = json_of_task(task) end
  return reply
end

