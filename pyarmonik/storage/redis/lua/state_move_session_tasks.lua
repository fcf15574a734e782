-- state_move_session_tasks: every task of the session in one status moved to
-- another (pause: SUBMITTED -> PAUSED; resume: PAUSED -> SUBMITTED).
--
-- KEYS[1..7]  the session's keys (see state_lib_records): KEYS[2] and KEYS[6] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     status the tasks are in (int)
-- ARGV[5]     status they move to (int)
--
-- Reads only the tasks in ARGV[4], found by the status index.
-- Returns {'OK', JSON of each moved task} or {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local from, to = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = ids_in(TASK_STATUSES_KEY, {from})
load_tasks(ids)
local moved = {}
for _, id in ipairs(ids) do
  local task = tasks[id]
  if task and task.status == from then
    set_task_status(task, to)
    moved[#moved + 1] = task
  end
end
flush()
return ok_tasks(moved)
