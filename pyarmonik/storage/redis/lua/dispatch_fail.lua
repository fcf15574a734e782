-- dispatch_fail: a definitive failure (state_fail_task: ERROR, TIMEOUT, or
-- CANCELLED after a cancel) and the task's lease acked, in one step.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id (the agent must hold it, unless it is CANCELLING)
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token ('' for none)
-- ARGV[9]  final status (int)
-- ARGV[10] message
--
-- Returns {'OK', acked, task JSON} or an error reply having written nothing.
use_session(ARGV[5])
local task, refused = fail(ARGV[6], AGENT_ID, tonumber(ARGV[9]), ARGV[10])
if not task then return refused end
flush()
return finished(ack_lease(ARGV[7], ARGV[8]), {task})
