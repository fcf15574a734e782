-- dispatch_start: a task the agent claimed and kept DISPATCHED (prefetched)
-- is started: DISPATCHED -> PROCESSING; or, cancelled meanwhile
-- (CANCELLING), CANCELLED with its lease acked.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token
--
-- Returns {'OK', 'run', task JSON}, {'OK', 'cancelled'}, or an error reply
-- having written nothing ({'NOT_HELD', ...}, {'NOT_FOUND', 'task', id}).
use_session(ARGV[5])
if finish_cancellation(ARGV[6]) then
  flush()
  ack_lease(ARGV[7], ARGV[8])
  return {'OK', 'cancelled'}
end
local task, refused = held_task(ARGV[6], AGENT_ID, {[TS.DISPATCHED] = true})
if not task then return refused end
start(task)
flush()
return {'OK', 'run', json_of_task(task)}
