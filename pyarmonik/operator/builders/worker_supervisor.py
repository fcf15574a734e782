"""The shell supervisor a partition pod runs its worker command under.

After a call the agent abandoned (a TIMEOUT, a cancel), the worker may still
be running it, and the agent asks for a new worker process
(``agent.worker_restart``: it writes the reason into its restart file). In a
pod the worker is another container: killing it would make the kubelet
restart the container with its back-off (10 s, 20 s, ... 5 min:
CrashLoopBackOff after a few timeouts in a row), and the partition would
serve nothing meanwhile. So the worker's command runs under this small
POSIX shell loop, the container's main process, which never exits on its
own: when the restart file appears it stops the worker (SIGTERM, SIGKILL
after 3 s), deletes the file and starts the command again at once; when
the worker exits by itself (a task that crashed it) it starts it again
after a second. The kubelet sees one container that keeps running; its
restarts count only what really failed. SIGTERM (pod stop) goes to the
worker, and the loop ends with it.

It needs ``/bin/sh`` (and a ``sleep`` that takes fractions: busybox,
coreutils) in the worker's image, and the worker's command: the operator
wraps ``worker.command`` (+ ``args``) only. ``tests.deployment`` runs its
workers under it too, as a pod would.
"""

from __future__ import annotations

from collections.abc import Sequence

#: ``$1`` the restart file, the rest the worker's command. The watcher
#: subshell ends by itself soon after the worker exits (``kill -0`` fails
#: once the loop has reaped it), so nothing is left behind.
SCRIPT = """\
request=$1; shift
child=
stop() { trap - TERM INT; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143; }
trap stop TERM INT
while :; do
  rm -f "$request"  # asked for while no worker ran: the one starting is new anyway
  "$@" &
  child=$!
  (
    while [ ! -e "$request" ] && kill -0 "$child" 2>/dev/null; do sleep 0.1; done
    if [ -e "$request" ] && kill -0 "$child" 2>/dev/null; then
      kill -TERM "$child" 2>/dev/null
      i=0
      while [ $i -lt 30 ] && kill -0 "$child" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
      kill -0 "$child" 2>/dev/null && kill -KILL "$child" 2>/dev/null
    fi
  ) &
  watcher=$!
  wait "$child"
  code=$?
  wait "$watcher"
  if [ -e "$request" ]; then
    echo "pyarmonik worker supervisor: worker restarted as its agent asked: $(cat "$request" 2>/dev/null)" >&2
    rm -f "$request"
  else
    echo "pyarmonik worker supervisor: the worker exited with code $code; starting it again in 1 s" >&2
    sleep 1
  fi
done
"""
#: ``$0`` of the shell: what ``ps`` shows.
NAME = "pyarmonik-worker-supervisor"


def supervised(command: Sequence[str], restart_file: str) -> list[str]:
    """``command`` run under the supervisor, which restarts it when
    ``restart_file`` appears."""
    return ["/bin/sh", "-c", SCRIPT, NAME, restart_file, *command]
