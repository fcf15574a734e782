-- fn_agent: the agent's hot path (after the libs): one function to claim
-- tasks (pop, admission, lease, acquisition, start, and what the agent
-- needs to run them: spec, inputs, outputs, its inputs' objects and small
-- data), one per outcome (write it, ack the lease, queue what it made
-- ready), and the lease upkeep (renew, reap).
--
-- They span a partition queue and the sessions of its tasks: single-primary
-- Redis only (storage/redis/keys.py). They need no request key: each
-- finish is idempotent (run again for the same agent, it finds its outcome
-- written and answers OK), and a claim names itself with a token whose
-- claimed tasks are kept REPLY_TTL_MS, so a claim sent again returns them
-- instead of taking more.
--
-- At-least-once: a claimed task holds a lease (its partition's `leases`)
-- until the function writing its outcome acks it; an agent that stops
-- renewing loses it to the reaper (pa_reap), and lifecycle/reaper.py
-- settles the task.

local HELD_OR_CANCELLING = {['3'] = true, ['9'] = true, ['7'] = true} -- DISPATCHED, PROCESSING, CANCELLING
local PROCESSING_ONLY = {['9'] = true}

-- Appends to `reply` what the agent needs to run a task without reading
-- anything else: 'run', task id, session, spec, inputs, outputs, then the
-- count n of its distinct inputs (payload first, then data dependencies)
-- and n times: result id, status, size, opaque id, and its data when it is
-- small (kept in the result's record), else false (in the object store).
-- The outputs are results of the session by construction: their ids suffice.
-- One flat list: a nested reply costs Redis a table walk per level.
local function append_run(reply, session, id, spec, inputs, outputs)
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4], reply[n + 5], reply[n + 6] =
    'run', id, session, spec, inputs, outputs
  local count_at, count, seen = n + 7, 0, nil
  n = count_at
  for input in string.gmatch(inputs, '[^,]+') do
    if count == 0 or not seen[input] then
      if count == 0 then seen = {} end
      seen[input] = true
      count = count + 1
      local v = redis.call('HMGET', k_result(session, input), 'status', 'size', 'opaque', 'data')
      reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4], reply[n + 5] = input, v[1] or '', v[2] or '0',
        v[3] or '', v[4]
      n = n + 5
    end
  end
  reply[count_at] = count
end

-- Writes why a popped task does not run, and returns it: 'gone' (missing,
-- or not SUBMITTED any more: taken, paused or cancelled since it was
-- queued), 'cancelled' (CANCELLING: finished here). Its session needs no
-- look: a queued task's session runs (lib_graph's ready_status).
local function not_run(session, id)
  local task = get_task(session, id)
  if task and task.status == TS.CANCELLING then
    set_task_status(task, TS.CANCELLED)
    return 'cancelled'
  end
  return 'gone'
end

-- A claim sent again: the tasks its first run leased, if still held.
local function replay_claim(reply, kept, agent)
  for entry in string.gmatch(kept, '[^\n]+') do
    local session, id = string.match(entry, '^(.-)\t(.*)$')
    local v = redis.call('HMGET', k_task(session, id), 'status', 'owner', 'spec', 'inputs', 'outputs')
    if v[2] == agent and HELD_BY_AGENT[v[1]] then append_run(reply, session, id, v[3], v[4], v[5] or '') end
  end
end

-- The claim of pa_claim and of pa_commit's next tasks: `args` from index
-- `i` on are (agent, hostname, lease expiry, n, start first ('1'/'0'),
-- most entries examined, claim token, woken ('1' when the caller waited
-- for a wake-up token)); the partition is `partition`. Appends the items
-- to `reply` and flushes.
-- Takes up to n runnable tasks of the partition, highest priority first and
-- fairness keys by weight (lib_queue): each run one DISPATCHED and leased (the
-- first PROCESSING at once when asked), an item as append_run writes it;
-- an entry not run leaves the queue with its outcome written, as the three
-- items admission, task id, session. A caller woken by a token passes one
-- on when tasks remain (another waiting agent takes them). A claim names
-- itself with its token: sent again, it returns what its first run took.
local function claim_into(reply, partition, args, i)
  local agent, host, expires = args[i], args[i + 1], args[i + 2]
  local wanted, start_first, limit = tonumber(args[i + 3]), args[i + 4] == '1', tonumber(args[i + 5])
  local token, woken = args[i + 6], args[i + 7] == '1'
  local claim_key = token ~= '' and k_claim(partition, token) or nil
  if claim_key then
    local kept = redis.call('GET', claim_key)
    if kept then
      replay_claim(reply, kept, agent)
      return
    end
  end
  local rotation, leases = k_rotation(partition), k_leases(partition)
  local claimed, examined, empty = {}, 0, false
  while #claimed < wanted and examined < limit do
    local id, session, counted = pop_next(partition, rotation)
    if not id then
      empty = session
      break
    end
    examined = examined + 1
    local key = k_task(session, id)
    local v = redis.call('HMGET', key, 'status', 'spec', 'inputs', 'outputs')
    if v[1] == TS.SUBMITTED then
      local dispatched = '2\t3\t' .. id .. '\t\t\t' -- TASK_STATUS_UPDATE, DISPATCHED
      if start_first and #claimed == 0 then
        redis.call('HSET', key, 'status', TS.PROCESSING, 'owner', agent, 'host', host, 'acquired_at', call.at,
          'started_at', call.at)
        task_moved(session, id, partition, TS.SUBMITTED, TS.PROCESSING, true)
        event(session, dispatched)
        event(session, '2\t9\t' .. id .. '\t\t\t')
      else
        redis.call('HSET', key, 'status', TS.DISPATCHED, 'owner', agent, 'host', host, 'acquired_at', call.at)
        task_moved(session, id, partition, TS.SUBMITTED, TS.DISPATCHED, true)
        event(session, dispatched)
      end
      -- a capped key's task holds its running count until it stops running (lib_graph's set_task_status)
      if counted then redis.call('HSET', key, 'capped', counted) end
      redis.call('ZADD', leases, expires, lease_member(session, id))
      claimed[#claimed + 1] = session .. TAB .. id
      append_run(reply, session, id, v[2], v[3], v[4] or '')
    else
      if counted then uncount(partition, counted) end
      local n = #reply
      reply[n + 1], reply[n + 2], reply[n + 3] = not_run(session, id), id, session
    end
  end
  flush()
  if empty then
    redis.call('DEL', k_wake(partition)) -- stale tokens: nothing is left to wake anyone for
  elseif woken and redis.call('LLEN', k_wake(partition)) == 0 then
    redis.call('RPUSH', k_wake(partition), '1')
  end
  if claim_key and #claimed > 0 then redis.call('SET', claim_key, concat(claimed, '\n'), 'PX', REPLY_TTL_MS) end
end

-- pa_claim(at, P, claim arguments (claim_into)...) -> {'OK', item...}
define('pa_claim', function(args)
  local reply = {'OK'}
  claim_into(reply, args[2], args, 3)
  return reply
end)

-- pa_start(at, S, T, agent, P) -> {'OK', 'run'} or {'OK', 'cancelled'}
-- A task the agent claimed and kept DISPATCHED (prefetched) starts:
-- PROCESSING (started_at = at); or, cancelled meanwhile, CANCELLED with its
-- lease acked.
define('pa_start', function(args)
  local session, id, agent, partition = args[2], args[3], args[4], args[5]
  local task = get_task(session, id)
  if task and task.status == TS.CANCELLING and task.owner == agent then
    set_task_status(task, TS.CANCELLED)
    ack_lease(partition, task, agent)
    flush()
    return {'OK', 'cancelled'}
  end
  local refused
  task, refused = held_task(session, id, agent, HELD_BY_AGENT)
  if not task then return refused end
  if task.status == TS.DISPATCHED then set_task_status(task, TS.PROCESSING, 'started_at', call.at) end
  flush()
  return {'OK', 'run'}
end)


-- The refusal of a commit's completions of results that already existed
-- (not created by the same commit), nil when each is a CREATED result.
local function check_completions(session, args, first, count, pending)
  local missing = {}
  for n = 0, count - 1 do
    local id = args[first + n * COMPLETION_ITEM]
    if not pending[id] then
      local result = get_result(session, id)
      if not result then
        missing[#missing + 1] = id
      elseif result.status ~= RS.CREATED then
        return error_reply('FAILED_PRECONDITION', 'result ' .. id .. ' is ' .. RESULT_STATUS_NAMES[result.status]
          .. ', not CREATED')
      end
    end
  end
  if #missing > 0 then return error_reply('NOT_FOUND', 'result', unpack(missing)) end
  return nil
end

-- pa_commit(at, S, T, agent, P, n new results, n completions, n children,
-- result items..., completions..., child task items..., and optionally the
-- claim arguments of the agent's next tasks (claim_into)) -> {'OK', acked,
-- tasks made ready, claimed items...}
-- A successful outcome: the worker's new results (CREATED), the completed
-- results (their waiters made ready), the children (created), the task
-- COMPLETED, its lease acked, what became ready queued; then, in the same
-- step, the agent's next tasks claimed (an agent that commits claims next:
-- one round trip per task, not two). Or an error reply, nothing written
-- and nothing claimed.
define('pa_commit', function(args)
  local session, id, agent, partition = args[2], args[3], args[4], args[5]
  local n_new, n_done, n_children = tonumber(args[6]), tonumber(args[7]), tonumber(args[8])
  local first_done = 9 + n_new * RESULT_ITEM
  local first_child = first_done + n_done * COMPLETION_ITEM
  local first_claim = first_child + n_children * TASK_ITEM
  local task = get_task(session, id)
  if task and task.status == TS.COMPLETED and task.owner == agent then
    local reply = {'OK', ack_lease(partition, task, agent), 0} -- sent again: written already
    if args[first_claim] then claim_into(reply, partition, args, first_claim) end
    return reply
  end
  local refused
  task, refused = held_task(session, id, agent, PROCESSING_ONLY, task)
  if not task then return refused end
  local pending = {} -- new result ids: the agent's UUIDs, unique by construction
  for n = 0, n_new - 1 do pending[args[9 + n * RESULT_ITEM]] = true end
  refused = check_completions(session, args, first_done, n_done, pending)
    or check_new_tasks(session, args, first_child, n_children, pending)
  if refused then return refused end
  for n = 0, n_new - 1 do insert_result(session, args, 9 + n * RESULT_ITEM) end
  for n = 0, n_done - 1 do
    local i = first_done + n * COMPLETION_ITEM
    complete_result(get_result(session, args[i]), args[i + 1], args[i + 2], id, args[i + 3] == '1' and args[i + 4])
  end
  for n = 0, n_children - 1 do insert_task(session, args, first_child + n * TASK_ITEM, id) end
  set_task_status(task, TS.COMPLETED, 'processed_at', call.at, 'success', '1')
  local reply = {'OK', ack_lease(partition, task, agent), call.pushed}
  if args[first_claim] then
    flush_queue() -- what the commit made ready is claimable now; the rest is written with the claim's
    claim_into(reply, partition, args, first_claim)
  else
    flush()
  end
  return reply
end)

-- pa_fail(at, S, T, agent, P, final status, message) -> {'OK', acked, record}
-- A definitive failure (ERROR, TIMEOUT, or CANCELLED after a cancel): the
-- task's CREATED outputs ABORTED, their dependents ERROR, recursively.
define('pa_fail', function(args)
  local session, id, agent, partition = args[2], args[3], args[4], args[5]
  local status, message = args[6], args[7]
  local task = get_task(session, id)
  if not task then return error_reply('NOT_FOUND', 'task', id) end
  if task.status == status and task.owner == agent then
    return {'OK', ack_lease(partition, task, agent), redis.call('HGETALL', k_task(session, id))}
  end
  if task.status ~= TS.CANCELLING then
    local refused
    task, refused = held_task(session, id, agent, HELD_BY_AGENT)
    if not task then return refused end
  end
  set_task_status(task, status, 'message', message, 'error', message, 'processed_at', call.at)
  abort_outputs(task, 'task ' .. id .. ' ended ' .. TASK_STATUS_NAMES[status])
  local acked = ack_lease(partition, task, agent)
  flush()
  return {'OK', acked, redis.call('HGETALL', k_task(session, id))}
end)

-- pa_retry(at, S, T, agent, P, message, next attempt (a task item)) -> {'OK', acked, new record}
-- The failed attempt RETRIED; the next one ("{initial_task_id}###{n}",
-- built by the caller) created, taking over its outputs, and queued.
define('pa_retry', function(args)
  local session, id, agent, partition, message = args[2], args[3], args[4], args[5], args[6]
  local new_id = args[7]
  local old = get_task(session, id)
  if old and old.status == TS.RETRIED and old.owner == agent and redis.call('EXISTS', k_task(session, new_id)) == 1 then
    return {'OK', ack_lease(partition, old, agent), redis.call('HGETALL', k_task(session, new_id))}
  end
  local refused
  old, refused = held_task(session, id, agent, HELD_BY_AGENT)
  if not old then return refused end
  if redis.call('HEXISTS', k_task_sessions(), new_id) == 1 then
    return error_reply('ALREADY_EXISTS', 'retry ' .. new_id .. ' already exists')
  end
  set_task_status(old, TS.RETRIED, 'message', message, 'error', message)
  insert_task(session, args, 7, id)
  local acked = ack_lease(partition, old, agent)
  flush()
  return {'OK', acked, redis.call('HGETALL', k_task(session, new_id))}
end)

-- pa_release(at, S, T, agent, P) -> {'OK', 1 when queued again (0: PAUSED), record}
-- A held task back to SUBMITTED without using a retry, at the head of its
-- session's list (served first again).
define('pa_release', function(args)
  local session, id, agent, partition = args[2], args[3], args[4], args[5]
  local task, refused = held_task(session, id, agent, HELD_BY_AGENT)
  if not task then
    local current = get_task(session, id)
    if current and current.owner == '' and (current.status == TS.SUBMITTED or current.status == TS.PAUSED) then
      return {'OK', 0, redis.call('HGETALL', k_task(session, id))} -- sent again: released already
    end
    return refused
  end
  make_ready(task, true, 'owner', '', 'host', '')
  ack_lease(partition, task, agent)
  flush()
  return {'OK', task.status == TS.SUBMITTED and 1 or 0, redis.call('HGETALL', k_task(session, id))}
end)

-- pa_cancelled(at, S, T, agent, P) -> {'OK', acked}: the task was cancelled
-- while the agent held it: CANCELLING -> CANCELLED, its lease acked. A task
-- that is not being cancelled keeps its holder and its lease: acking it
-- would leave it PROCESSING with nothing to renew or reap it.
define('pa_cancelled', function(args)
  local session, id, agent, partition = args[2], args[3], args[4], args[5]
  local task = get_task(session, id)
  if not task or task.owner ~= agent then return {'OK', 0} end
  if task.status == TS.CANCELLING then
    set_task_status(task, TS.CANCELLED)
  elseif task.status ~= TS.CANCELLED then -- CANCELLED: sent again, acked already
    return {'OK', 0}
  end
  local acked = ack_lease(partition, task, agent)
  flush()
  return {'OK', acked}
end)

-- pa_renew(at, P, agent, lease expiry, "S\tT"...) -> {'OK', state of each}:
-- the leases this agent still holds, extended: 1 held, 2 held but the task
-- was cancelled (the agent stops it), 0 lost (reaped, or taken over).
define('pa_renew', function(args)
  local partition, agent, expires = args[2], args[3], args[4]
  local leases = k_leases(partition)
  local reply = {'OK'}
  for i = 5, #args do
    local session, id = string.match(args[i], '^(.-)\t(.*)$')
    local held = 0
    if session and redis.call('ZSCORE', leases, args[i]) then
      local v = redis.call('HMGET', k_task(session, id), 'owner', 'status')
      local status = v[2]
      if v[1] == agent and HELD_OR_CANCELLING[status] then
        redis.call('ZADD', leases, 'XX', expires, args[i])
        held = status == TS.CANCELLING and 2 or 1
      end
    end
    reply[#reply + 1] = held
  end
  return reply
end)

-- pa_reap(at, P, now, limit, retry at, request) -> {'OK', session, task id,
-- agent, ...}: up to `limit` leases expired by `now`, out of `leases` (their
-- agents' renewals now say LOST) and into `reaped` until `retry at`: a
-- reaper that stops before settling them (pa_forget_reaped) leaves them to
-- the next reaper then, instead of losing their tasks. The reaped entries
-- whose time came are handed over again in the same way. Sent again with
-- the same request (its reply lost), it replies the same.
define('pa_reap', function(args)
  local partition, now, limit, retry_at = args[2], args[3], tonumber(args[4]), args[5]
  return once(k_reap_reply(partition, args[6]), function()
    local leases, reaped = k_leases(partition), k_reaped(partition)
    local reply = {'OK'}
    for _, from in ipairs({leases, reaped}) do
      local room = limit - (#reply - 1) / 3
      if room <= 0 then break end
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', from, '-inf', now, 'LIMIT', 0, room)) do
        if from == leases then redis.call('ZREM', leases, member) end
        redis.call('ZADD', reaped, retry_at, member)
        local session, id = string.match(member, '^(.-)\t(.*)$')
        reply[#reply + 1] = session or ''
        reply[#reply + 1] = id or member
        reply[#reply + 1] = session and redis.call('HGET', k_task(session, id), 'owner') or ''
      end
    end
    return reply
  end)
end)

-- pa_forget_reaped(at, P, "S\tT"...) -> {'OK'}: the reaped leases settled.
define('pa_forget_reaped', function(args)
  redis.call('ZREM', k_reaped(args[2]), unpack(args, 3))
  return {'OK'}
end)

-- pa_wake(at, P): a waiting claim that took a wake-up token and will not use
-- it passes it on while tasks remain.
define('pa_wake', function(args)
  local partition = args[2]
  if redis.call('ZCARD', k_rotation(partition)) > 0 then add_wake_tokens(partition, 1) end
  return {'OK'}
end)
