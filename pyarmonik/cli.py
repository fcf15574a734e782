"""The ``pyarmonik`` command.

``pyarmonik local`` starts a whole grid on this machine (``--demo`` runs the
examples on it); ``pyarmonik control-plane`` and ``pyarmonik agent`` are the
separate processes of a shared deployment. Errors are reported in one line
naming what failed.
"""

from __future__ import annotations

import os

# gRPC's core logs its own copy of errors we report in one line (a port in
# use...); users can still ask for them with GRPC_VERBOSITY=debug.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pydantic
from rich.console import Console
from rich.logging import RichHandler

from pyarmonik import settings_flags
from pyarmonik.core import errors, logcontext
from pyarmonik.local.launcher import LocalGrid, LocalOptions
from pyarmonik.processes.agent_process import run_agent
from pyarmonik.processes.control_plane_process import run_control_plane
from pyarmonik.settings import AgentSettings, ControlPlaneSettings

log = logging.getLogger("pyarmonik")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyarmonik", description="A Python grid that speaks the ArmoniK API.")
    parser.add_argument(
        "--log-level", default=os.environ.get("PYARMONIK_LOG_LEVEL", "INFO"), help="DEBUG, INFO, WARNING, ERROR"
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("PYARMONIK_LOG_FORMAT", "text"),
        help="text for people, json for log collectors (env PYARMONIK_LOG_FORMAT)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run a whole grid on this machine, on embedded storage")
    local.add_argument("--host", default="127.0.0.1", help="address to serve the ArmoniK API on")
    local.add_argument("--port", type=int, default=5001, help="port of the ArmoniK API (default 5001)")
    local.add_argument(
        "--data-dir",
        type=Path,
        default=Path("pyarmonik-data"),
        help="objects live in DATA_DIR/objects, worker logs in DATA_DIR/logs",
    )
    local.add_argument(
        "--partition",
        action="append",
        dest="partitions",
        metavar="NAME",
        help="a partition (repeatable; 'default' when none)",
    )
    local.add_argument("--agents", type=int, default=1, help="agents (and workers) per partition (default 1)")
    local.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="[PARTITION=]COMMAND",
        help="worker command for every partition, or for one with PARTITION=COMMAND (repeatable)",
    )
    local.add_argument("--lease-seconds", type=float, default=15.0, help="task lease of an agent (default 15)")
    local.add_argument(
        "--grace-seconds", type=float, default=5.0, help="on shutdown, time the running task gets to finish (default 5)"
    )
    local.add_argument("--demo", action="store_true", help="run the example workers and clients, then exit")
    local.add_argument("--redis", metavar="URL", help="keep state, queues and events in this Redis")
    local.add_argument("--s3", metavar="ENDPOINT", help="keep result data in this S3/MinIO (host:port)")
    local.add_argument("--s3-access-key", default="", help="S3 access key")
    local.add_argument("--s3-secret-key", default="", help="S3 secret key")
    local.add_argument("--s3-bucket", default="pyarmonik", help="S3 bucket (created when missing)")
    local.add_argument("--s3-secure", action="store_true", help="reach S3 over TLS")
    control_plane = commands.add_parser(
        "control-plane", help="serve the ArmoniK API over shared Redis and S3 (replicas cooperate)"
    )
    settings_flags.add_flags(control_plane, ControlPlaneSettings)
    agent = commands.add_parser("agent", help="poll one partition and run its tasks on a worker reached by socket")
    settings_flags.add_flags(agent, AgentSettings)
    return parser


def _workers(specs: list[str], partitions: list[str]) -> dict[str, str]:
    workers: dict[str, str] = {}
    for spec in specs:
        name, sep, command = spec.partition("=")
        if sep and name in partitions:
            workers[name] = command
        else:
            workers.update({p: spec for p in partitions if p not in workers})
    return workers


def _local_options(args: argparse.Namespace) -> LocalOptions:
    partitions = list(dict.fromkeys(args.partitions or ["default"]))
    if args.agents < 0:
        raise ValueError(f"--agents must be >= 0, got {args.agents}")
    return LocalOptions(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        partitions=partitions,
        agents=args.agents,
        workers=_workers(args.worker, partitions),
        lease_seconds=args.lease_seconds,
        heartbeat_seconds=max(args.lease_seconds / 5, 0.1),
        grace_seconds=args.grace_seconds,
        redis_url=args.redis,
        s3=_s3_options(args),
    )


def _s3_options(args: argparse.Namespace) -> dict[str, object]:
    if not args.s3:
        return {}
    return {
        "endpoint": args.s3,
        "access_key": args.s3_access_key,
        "secret_key": args.s3_secret_key,
        "bucket": args.s3_bucket,
        "secure": args.s3_secure,
    }


async def _until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)
    return 0


def _run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "control-plane":
        settings = settings_flags.settings_from(args, ControlPlaneSettings)
        return asyncio.run(_until_signal(lambda stop: run_control_plane(settings, stop)))
    if args.command == "agent":
        agent_settings = settings_flags.settings_from(args, AgentSettings)
        return asyncio.run(_until_signal(lambda stop: run_agent(agent_settings, stop)))
    options = _local_options(args)
    if args.demo:
        from pyarmonik.local.demo import run_demo

        return asyncio.run(run_demo(options, console))
    return asyncio.run(_serve(options, console))


async def _serve(options: LocalOptions, console: Console) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalGrid(options) as grid:
        agents = sum(options.agents for p in options.partitions if options.workers.get(p))
        console.print(
            f"[bold green]PyArmoniK grid serving on {options.host}:{grid.port}[/] "
            f"(partitions {', '.join(options.partitions)}; {agents} agent(s); data in {options.data_dir})"
        )
        if not agents:
            console.print("No worker given (--worker 'COMMAND'): tasks will be queued but not run.")
        await stop.wait()
        console.print("Shutting down...")
    return 0


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


def _setup_logging(args: argparse.Namespace, console: Console) -> None:
    """Readable lines for people (rich), or one JSON object per line for log
    collectors (``--log-format json``); both carry the session/task ids."""
    handler: logging.Handler
    if args.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logcontext.JsonFormatter())
    else:
        handler = RichHandler(console=console, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s%(context_text)s"))
    handler.addFilter(logcontext.ContextFilter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    _setup_logging(args, console)
    # Client libraries narrate their own retries; we report the outcome in one line.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        code = _run(args, console)
    except KeyboardInterrupt:
        code = 130
    except errors.PyArmoniKError as exc:
        console.print(f"[red]pyarmonik: error:[/] {exc.message}")
        code = 1
    except pydantic.ValidationError as exc:
        console.print(f"[red]pyarmonik: invalid settings:[/] {_first_error(exc)}")
        code = 2
    except (OSError, ValueError, RuntimeError) as exc:
        console.print(f"[red]pyarmonik: error:[/] {exc}")
        code = 1
    with contextlib.suppress(Exception):
        logging.shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
