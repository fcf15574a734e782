-- state_move_session_tasks: up to ARGV[6] tasks of the session in one status
-- moved to another (pause: SUBMITTED -> PAUSED; resume: PAUSED -> SUBMITTED).
--
-- KEYS[1..10]  the session's keys (see state_lib_records): KEYS[2], KEYS[6] and KEYS[8] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     status the tasks are in (int)
-- ARGV[5]     status they move to (int)
-- ARGV[6]     most tasks to move in this run
--
-- Reads only the tasks in ARGV[4], found by the status index; a large
-- session moves in several short runs, so that Redis keeps serving every
-- other client in between. Returns {'OK', examined, JSON of each moved task}:
-- the caller runs it again while ``examined`` reaches ARGV[6]; or
-- {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local from, to = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', TASK_STATUSES_KEY, from, from, 'LIMIT', 0, tonumber(ARGV[6]))
load_tasks(ids)
local moved = {}
for _, id in ipairs(ids) do
  local task = tasks[id]
  if task and task.status == from then
    set_task_status(task, to)
    moved[#moved + 1] = task
  elseif task then
    touch_task(task) -- a stale index entry: rewriting the task corrects it
  else
    redis.call('ZREM', TASK_STATUSES_KEY, id)
  end
end
flush()
local reply = ok_tasks(moved)
table.insert(reply, 2, #ids)
return reply
