-- state_move_session_tasks: every task of the session in one status moved to
-- another (pause: SUBMITTED -> PAUSED; resume: PAUSED -> SUBMITTED).
--
-- KEYS[1..5]  the session's keys (see state_lib_records): KEYS[2] is written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4]     status the tasks are in (int)
-- ARGV[5]     status they move to (int)
--
-- Returns {'OK', JSON of each moved task} or {'NOT_FOUND', 'session', id}.
if not get_session() then return missing_session() end
local from, to = tonumber(ARGV[4]), tonumber(ARGV[5])
local moved = {}
for _, id in ipairs(load_all(TASKS_KEY, tasks, task_json, decode_task)) do
  if tasks[id].status == from then
    set_task_status(tasks[id], to)
    moved[#moved + 1] = tasks[id]
  end
end
flush()
return ok_tasks(moved)
