"""Many agents in one process, for the cluster benchmark: one asyncio loop
hosts ``--agents`` pollsters of one partition on one grid (one Redis
client), each on the in-process Worker adapter running a no-op function
(8-byte result), so that no SDK worker process is needed per agent. What
Redis sees is what as many ``pyarmonik agent`` processes would send it: one
claim and one finish script per task, their own lease and idle polling.

Prints ``ready`` once every pollster runs; SIGTERM or SIGINT stops them
(each finishes its task, as a stopping agent does).

    python -m bench.cluster_agents --agents 100 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from pathlib import Path

from pyarmonik.agent.inprocess_worker import InProcessWorker, TaskHandler
from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.lifecycle import reaper
from pyarmonik.processes import wiring
from pyarmonik.settings import StorageSettings

RESULT = b"r" * 8
LEASE_SECONDS = 15.0


async def no_op(task: TaskHandler) -> None:
    task.send_results({task.expected_results[0]: RESULT})


async def run(agents: int, redis_url: str, partition: str, data_dir: Path, prefix: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Each agent may hold two connections at once (its wait or commit, and
    # its lease renewal): within connection.MAX_CONNECTIONS for the hundreds
    # of agents one process hosts here.
    settings = StorageSettings(redis_url=redis_url, data_dir=data_dir)
    async with wiring.open_grid(settings, default_partition=partition) as grid:
        await grid.state.get_partition(partition)  # NotFound names an undeclared partition
        worker = InProcessWorker(no_op)
        hostname = socket.gethostname()
        pollsters = [
            Pollster(
                grid,
                worker,
                AgentConfig(
                    partition,
                    data_root=data_dir / f"{prefix}-{index}",  # one each: an agent reuses its own folders
                    agent_id=f"{prefix}-{index}",
                    hostname=hostname,
                    lease_seconds=LEASE_SECONDS,
                ),
            )
            for index in range(agents)
        ]
        running = [asyncio.ensure_future(p.run(stop)) for p in pollsters]
        running.append(asyncio.ensure_future(reaper.reap_forever(grid, stop, every=reaper.period_for(LEASE_SECONDS))))
        print("ready", flush=True)
        await asyncio.gather(*running)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--partition", default="default")
    parser.add_argument("--data-dir", type=Path, default=Path("pyarmonik-data"))
    parser.add_argument("--id-prefix", default=f"inproc-{socket.gethostname()}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args.agents, args.redis_url, args.partition, args.data_dir, args.id_prefix))


if __name__ == "__main__":
    main()
