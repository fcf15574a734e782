"""``python -m bench.fair_instructions``: the CPU instructions redis-server
spends per claim (callgrind), the one figure of ``bench.fair_cost`` that a
loaded machine does not change.

A redis-server runs under ``valgrind --tool=callgrind`` with instrumentation
off; the partition is filled as ``bench.fair_cost`` fills it; instrumentation
is turned on for ``--claims`` claims (or, with ``--commit``, commits that
each claim the agent's next task: the steady state of an agent) and off
again; the instructions counted, divided by the tasks claimed, are printed.
Needs valgrind (Debian: ``apt-get install valgrind``); a claim under it runs
about 50 times slower, so keep ``--claims`` to a few thousand.

    python -m bench.fair_instructions --layout plain --sessions 1 --claims 1000
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio

from bench import cli, fair_cost
from bench.workload import BenchError
from pyarmonik.storage import ports
from pyarmonik.storage.redis.dispatch import RedisDispatch

START_TIMEOUT = 120.0


def instructions(out: Path) -> int:
    """The instructions of a callgrind dump (its ``summary:`` line)."""
    found = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                found = max(found, int(line.split()[1]))
    return found


async def claims(url: str, count: int, *, commit: bool, control: list[str]) -> int:
    client = redis.asyncio.Redis.from_url(url)
    dispatch = RedisDispatch(client)
    take = dict(agent_id="a", hostname="h", lease_seconds=3600, count=1, start_first=True, timeout=0)
    try:
        [held] = await dispatch.claim(fair_cost.PARTITION, **take)  # type: ignore[arg-type]  # the library loaded
        subprocess.run([*control, "-i", "on"], check=True, capture_output=True)
        for _ in range(count):
            if commit:
                following = ports.NextClaim(fair_cost.PARTITION, "a", "h", 3600.0)
                assert held.task is not None
                await dispatch.commit(held.task, held.lease, agent_id="a", commit=ports.TaskCommit(), at=2.0,
                                      next_claim=following)  # fmt: skip
                [held] = following.claims
            else:
                await dispatch.claim(fair_cost.PARTITION, **take)  # type: ignore[arg-type]
        subprocess.run([*control, "-i", "off"], check=True, capture_output=True)
    finally:
        await client.aclose()
    return count


def measure(layout: str, sessions: int, tasks: int, count: int, *, commit: bool) -> float:
    if not shutil.which("valgrind"):
        raise BenchError("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="fair-ir-", dir="/tmp") as root:
        sock, out = Path(root) / "redis.sock", Path(root) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                   "redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
                   "--dir", root]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                with contextlib.suppress(redis.RedisError):
                    if redis.Redis(unix_socket_path=str(sock)).ping():
                        break
                if time.monotonic() > deadline or server.poll() is not None:
                    raise BenchError("redis-server under valgrind did not start")
                time.sleep(0.2)
            url = f"unix://{sock}"
            asyncio.run(fair_cost.fill_and_close(redis.asyncio.Redis.from_url(url), layout, sessions, tasks))
            control = ["callgrind_control", str(server.pid)]
            done = asyncio.run(claims(url, count, commit=commit, control=control))
            subprocess.run([*control, "-d"], check=True, capture_output=True)
            deadline = time.monotonic() + START_TIMEOUT
            while not instructions(out) and time.monotonic() < deadline:
                time.sleep(0.2)
            return instructions(out) / done
        finally:
            server.terminate()
            server.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = cli.OneLineParser(prog="python -m bench.fair_instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", default="plain", choices=fair_cost.LAYOUTS)
    parser.add_argument("--sessions", type=cli.at_least(1), default=1)
    parser.add_argument("--tasks", type=cli.at_least(1), default=10_000, help="queued tasks in the partition")
    parser.add_argument("--claims", type=cli.at_least(1), default=1000)
    parser.add_argument("--commit", action="store_true", help="commits that claim the next task, not bare claims")
    args = parser.parse_args(argv)
    per_task = measure(args.layout, args.sessions, args.tasks, args.claims, commit=args.commit)
    what = "commit and next claim" if args.commit else "claim"
    print(f"{args.layout} {args.sessions} sessions: {per_task:,.0f} redis-server instructions per {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
