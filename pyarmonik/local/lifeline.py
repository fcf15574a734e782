"""Children of ``pyarmonik local`` die with it, even when it is SIGKILLed.

On Linux each child asks the kernel for a signal when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), then execs its program; the setting survives
exec, so the program (``redis-server``, a user's worker command) needs no
cooperation. A pipe the child watches would need every program to read it.

The request is made by a small Python launcher the child runs first
(``wrapped``), not by a ``preexec_fn``: with one, ``subprocess`` runs the
parent's at-fork handlers in the forked child, and gRPC's, in a process full
of gRPC threads, abort it before it execs.

The kernel sends the signal when the *thread* that started the child ends,
not the process: ``local`` starts its children from its event loop's
thread, which lives as long as the grid.

Elsewhere (macOS) there is no such call: children are stopped on a clean
exit only.
"""

from __future__ import annotations

import os
import signal
import sys

#: Run by ``python -I -S -c`` (isolated: the current folder, which may hold
#: modules of any name, stays off ``sys.path``): PR_SET_PDEATHSIG (1), then exec. A parent that
#: died before the call would never signal: then exit at once.
_LAUNCHER = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None).prctl(1, int(sys.argv[1]), 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[2]):\n"
    "    os._exit(1)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


def wrapped(argv: list[str], sig: signal.Signals = signal.SIGKILL) -> list[str]:
    """``argv``, started so that it gets ``sig`` when this process dies."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(int(sig)), str(os.getpid()), *argv]
