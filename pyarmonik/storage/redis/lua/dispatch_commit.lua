-- dispatch_commit: a task's successful outcome (state_commit_task), its
-- lease acked and the tasks it made ready (dependents of its outputs, its
-- children) queued on their partitions, in one step.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id (the agent must hold it, PROCESSING)
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token ('' for none)
-- ARGV[9]  n: number of new results
-- ARGV[10] JSON array of completions [result id, size, opaque id as codec encodes it]
-- ARGV[11 .. 10+n]  new result JSON each (CREATED)
-- ARGV[11+n ..]     child task JSON each (CREATING)
--
-- Returns {'OK', acked (1, or 0 when the lease was gone), ready task JSON...}
-- or an error reply having written nothing.
use_session(ARGV[5])
local count = tonumber(ARGV[9])
local task, refused = commit(ARGV[6], AGENT_ID, slice(ARGV, 11, 10 + count), cjson.decode(ARGV[10]),
  slice(ARGV, 11 + count, #ARGV))
if not task then return refused end
flush()
push_tasks(ready)
return finished(ack_lease(ARGV[7], ARGV[8]), ready)
