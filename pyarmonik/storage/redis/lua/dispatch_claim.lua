-- dispatch_claim: an agent takes up to n runnable tasks from its partition
-- in one step: pop, admission, lease, acquisition (and start of the first).
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  partition id
-- ARGV[6]  lease expiry time, UNIX seconds as a decimal string
-- ARGV[7]  n: most runnable tasks to claim
-- ARGV[8]  '1': the first claimed task is started at once (PROCESSING);
--          '0': every claimed task stays DISPATCHED until dispatch_start
-- ARGV[9]  most queue items examined (bounds the run when many items are dropped)
-- ARGV[10] agent hostname
-- ARGV[11] lease token prefix (unique per call; a lease is "<prefix>:<i>")
--
-- Items are popped highest priority first. Each popped task is admitted as
-- processing.admit did: missing or not SUBMITTED -> dropped ('gone');
-- CANCELLING -> CANCELLED ('cancelled'); session closed -> cancelled
-- ('cancelled'); session paused -> PAUSED ('paused', resume queues it
-- again); else leased to the agent and SUBMITTED -> DISPATCHED (-> PROCESSING
-- for the first when ARGV[8] is '1') with owner, hostname and times as
-- acquire_task and start_task set them ('run'). An item not run leaves the
-- queue here, its outcome written in the same step; a run one lives on in
-- its lease until a finish script acks it (at-least-once).
--
-- Returns {'OK', then per item examined: admission, task id, lease token
-- ('' unless run), task JSON ('' unless run), k, then k JSON records of the
-- task's payload, data dependencies and expected outputs (run only): the
-- agent reads no metadata to fetch its inputs or check its outputs}.
local partition, expires, wanted = ARGV[5], ARGV[6], tonumber(ARGV[7])
local start_first, limit, hostname, token_prefix = ARGV[8] == '1', tonumber(ARGV[9]), ARGV[10], ARGV[11]
local queue = queue_keys(partition)
local CLOSED = {[SS.CANCELLED] = true, [SS.CLOSED] = true, [SS.PURGED] = true, [SS.DELETED] = true}

local function admit(task_id)
  local task = get_task(task_id)
  if not task then return 'gone' end
  if task.status == TS.CANCELLING then
    set_task_status(task, TS.CANCELLED)
    return 'cancelled'
  end
  if task.status ~= TS.SUBMITTED then return 'gone' end
  local session = get_session()
  if not session then return 'gone' end
  if CLOSED[session.status] then
    cancel_tasks({task}, 'session ' .. SESSION_STATUS_NAMES[session.status])
    return 'cancelled'
  end
  if session.status == SS.PAUSED then
    set_task_status(task, TS.PAUSED)
    return 'paused'
  end
  return 'run', task
end

-- Items of one session in a row are written (and their events published) at
-- once: a batch of one session costs one message.
local reply, claimed, examined, current = {'OK'}, 0, 0, nil
while claimed < wanted and examined < limit do
  local popped = redis.call('ZPOPMIN', queue.ready)
  if #popped == 0 then break end
  examined = examined + 1
  local member, score = popped[1], popped[2]
  local item = cjson.decode(string.sub(member, (find(member, ':', 1, true) or 0) + 1))
  if item[2] ~= current then
    if current then flush() end
    use_session(item[2])
    current = item[2]
  end
  local admission, task = admit(item[1])
  local token, json, inputs = '', '', {}
  if task then
    claimed = claimed + 1
    token = token_prefix .. ':' .. claimed
    redis.call('HSET', queue.leases, token, cjson.encode({member, score, AGENT_ID, expires}))
    redis.call('ZADD', queue.expiry, expires, token)
    acquire(task, AGENT_ID, hostname)
    if start_first and claimed == 1 then start(task) end
    local ids = dependencies_of(task)
    for _, id in ipairs(task.expected_output_ids) do ids[#ids + 1] = id end
    load_results(ids)
    local seen = {}
    for _, id in ipairs(ids) do
      if results[id] and not seen[id] then inputs[#inputs + 1] = json_of_result(results[id]) end
      seen[id] = true
    end
    json = json_of_task(task)
  end
  reply[#reply + 1] = admission
  reply[#reply + 1] = item[1]
  reply[#reply + 1] = token
  reply[#reply + 1] = json
  reply[#reply + 1] = #inputs
  for _, input in ipairs(inputs) do reply[#reply + 1] = input end
end
if current then flush() end
if redis.call('ZCARD', queue.ready) == 0 then
  redis.call('DEL', queue.wake)
elseif examined > 0 and redis.call('LLEN', queue.wake) == 0 then
  redis.call('RPUSH', queue.wake, '1')
end
return reply
