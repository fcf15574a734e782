-- state_create_tasks: a batch of tasks with their dependencies, atomically.
--
-- KEYS[1..10] the session's keys (see state_lib_records): KEYS[2..10] are written
-- ARGV[1..3]  channel, at, session id (see state_lib_records)
-- ARGV[4..]   one task JSON each (status CREATING)
--
-- Checks first (check_new_tasks), then inserts each task: outputs without an
-- owner (or owned by its creator) pass to it, it waits PENDING on the
-- dependencies not COMPLETED, or is ready. Returns {'OK', ready task JSON...}
-- or an error reply ({'NOT_FOUND', kind, ids...}, {'FAILED_PRECONDITION',
-- message}, {'ALREADY_EXISTS', message}) having written nothing.
if not get_session() then return missing_session() end
local batch = {}
for i = 4, #ARGV do batch[#batch + 1] = decode_task(ARGV[i]) end
local refused = check_new_tasks(batch, {})
if refused then return refused end
for _, task in ipairs(batch) do insert_task(task) end
flush()
return ok_tasks(ready)
