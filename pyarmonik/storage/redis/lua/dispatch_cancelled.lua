-- dispatch_cancelled: the task was cancelled while the agent held it:
-- CANCELLING -> CANCELLED (state_finish_cancellation) and its lease acked.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token ('' for none)
--
-- Returns {'OK', acked} (nothing written but the ack when the task is
-- missing or not CANCELLING).
use_session(ARGV[5])
if finish_cancellation(ARGV[6]) then flush() end
return finished(ack_lease(ARGV[7], ARGV[8]), {})
