-- state_cancel_session_tasks: up to ARGV[4] non-final tasks of the session
-- cancelled (step 1 of cancel_session; held ones CANCELLING, the others
-- CANCELLED), their outputs left for state_abort_outputs.
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     most tasks to cancel in this run
--
-- A session of 100,000 tasks is cancelled in runs of ARGV[4] tasks, each run
-- short, so that Redis keeps serving every other client in between. Every
-- task is cancelled before any output is aborted (steps 2 and 3 come after
-- the last run), so that a task cancelled with its producer ends CANCELLED,
-- as with state_cancel_tasks. Returns {'OK', examined, id of each task
-- cancelled}: the caller runs it again while ``examined`` reaches ARGV[4];
-- or {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local limit = tonumber(ARGV[4])
local ids = {}
for _, status in ipairs({TS.CREATING, TS.PENDING, TS.SUBMITTED, TS.DISPATCHED, TS.PROCESSING, TS.PAUSED}) do
  if #ids >= limit then break end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', TASK_STATUSES_KEY, status, status, 'LIMIT', 0, limit - #ids)) do
    ids[#ids + 1] = id
  end
end
load_tasks(ids)
local reply = {'OK', #ids}
for _, id in ipairs(ids) do
  local task = tasks[id]
  if task and not FINAL[task.status] and task.status ~= TS.CANCELLING then
    set_task_status(task, HELD_BY_AGENT[task.status] and TS.CANCELLING or TS.CANCELLED, 'session cancelled')
    reply[#reply + 1] = id
  elseif task then
    touch_task(task) -- a stale index entry: rewriting the task corrects it
  else
    redis.call('ZREM', TASK_STATUSES_KEY, id)
  end
end
flush()
return reply
