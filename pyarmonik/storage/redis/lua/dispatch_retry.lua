-- dispatch_retry: the failed attempt RETRIED and its next attempt created
-- (state_retry_task), the lease acked and the new attempt queued, in one step.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id of the failed attempt (the agent must hold it)
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token ('' for none)
-- ARGV[9]  message
-- ARGV[10] id the caller expects for the new attempt (it indexed it first)
--
-- Returns {'OK', acked, new task JSON} or an error reply having written nothing.
use_session(ARGV[5])
local new, refused = retry(ARGV[6], AGENT_ID, ARGV[9], ARGV[10])
if not new then return refused end
flush()
push_tasks(ready)
return finished(ack_lease(ARGV[7], ARGV[8]), {new})
