-- dispatch_release: a held task back to SUBMITTED without using a retry
-- (state_release_task), in one step with its queue item: the leased item
-- goes back to its ready set with its score (release.lua), so it is served
-- first again; without a held lease the task is queued anew.
--
-- KEYS[1]  reply key of this call (see dispatch_lib)
-- ARGV[1..4]  key prefix, at, agent id, wake-up token cap (see dispatch_lib)
-- ARGV[5]  session id
-- ARGV[6]  task id (the agent must hold it, DISPATCHED or PROCESSING)
-- ARGV[7]  partition id of the lease
-- ARGV[8]  lease token ('' for none)
--
-- Returns {'OK', 1 (the item given back) or 0 (queued anew, or PAUSED), task
-- JSON} or an error reply having written nothing.
use_session(ARGV[5])
local task, refused = release(ARGV[6], AGENT_ID)
if not task then return refused end
flush()
local given = 0
if task.status == TS.SUBMITTED then
  if give_back(ARGV[7], ARGV[8]) then given = 1 else push_tasks({task}) end
else
  ack_lease(ARGV[7], ARGV[8]) -- PAUSED: resume queues it
end
return finished(given, {task})
