"""Children of ``pyarmonik local`` die with it, even when it is SIGKILLed.

On Linux each child asks the kernel, between fork and exec, for a signal
when its parent dies (``prctl(PR_SET_PDEATHSIG)``); the setting survives
exec, so the program the child runs needs no cooperation. A pipe the child
watches would need every program to read it, which a user's worker command
or ``redis-server`` does not do.

The kernel sends the signal when the *thread* that forked the child ends,
not the process: ``local`` starts its children from its event loop's
thread, which lives as long as the grid.

Elsewhere (macOS) there is no such call: children are stopped on a clean
exit only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def dies_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child get ``sig`` when this process dies
    (``None`` where the platform cannot)."""
    if _LIBC is None:
        return None
    parent, libc = os.getpid(), _LIBC

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would signal us
            os._exit(1)

    return preexec
