"""The ``pyarmonik`` command.

``pyarmonik local`` starts a whole grid on this machine (``--demo`` runs the
examples on it); ``pyarmonik control-plane`` and ``pyarmonik agent`` are the
separate processes of a shared deployment. Every command's flags come from
its settings model (``pyarmonik.settings``); errors are reported in one line
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
import difflib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import pydantic
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

import pyarmonik
from pyarmonik import settings, settings_flags
from pyarmonik.core import errors, logcontext
from pyarmonik.local import launcher
from pyarmonik.processes import agent_process, control_plane_process, operator_process

log = logging.getLogger(__name__)

_SUMMARIES = {
    "local": "run a whole grid on this machine: control plane, agents and their worker processes",
    "control-plane": "serve the ArmoniK API over shared Redis and S3 (replicas cooperate)",
    "agent": "poll one partition and run its tasks on a worker reached by socket",
    "operator": "run the Kubernetes operator (ArmoniKCluster and ArmoniKPartition resources)",
}
_DESCRIPTIONS = {
    "local": "Runs a whole grid in one command: the ArmoniK API, --agents agents per partition and, for each, "
    "a worker process started from --worker, each agent and the control plane in a process of its own. State, "
    "queues and events live in a private redis-server unless --redis-url is given; data in files unless "
    "--s3-endpoint is. "
    "Stops cleanly on Ctrl-C: running tasks get --grace-seconds, then go back to the queue.",
    "control-plane": "Serves every ArmoniK client service (sessions, tasks, results, events, partitions...) "
    "over shared storage. Any number of replicas may run; clients may use any of them.",
    "agent": "Polls one partition's queue, runs each task on the worker next to it (the official ArmoniK "
    "worker SDK's Worker service) and commits what the worker produced. On SIGTERM it stops taking tasks and "
    "gives the running one --grace-seconds before releasing it.",
    "operator": "Keeps the grids declared as ArmoniKCluster and ArmoniKPartition resources converged: builds "
    "their Deployments, StatefulSets, Services and Secrets, repairs them, reports status, and declares each "
    "partition to its grid. Needs `pip install 'pyarmonik[operator]'` and a kubeconfig or a service account.",
}


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command's parser, and each sub-command's."""
    parser = argparse.ArgumentParser(
        prog="pyarmonik",
        description="A Python compute grid that speaks the ArmoniK API. `pyarmonik COMMAND --help` lists a "
        "command's settings; each is a flag and an environment variable (a flag wins).",
    )
    parser.add_argument("--version", action="version", version=f"pyarmonik {pyarmonik.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subs = {}
    for command, model in settings.COMMANDS.items():
        sub = subs[command] = commands.add_parser(command, help=_SUMMARIES[command], description=_DESCRIPTIONS[command])
        settings_flags.add_flags(sub, model)
    return parser, subs


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments; what the command does not know is refused by the
    command's own parser (its usage, not the top-level one), with the flag
    meant when one is close."""
    parser, subs = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        sub = subs[args.command]
        known = [option for action in sub._actions for option in action.option_strings]
        guesses = [
            match
            for word in unknown
            if word.startswith("--")
            for match in difflib.get_close_matches(word.split("=", 1)[0], known, n=1)
        ]
        hint = f" (did you mean {', '.join(dict.fromkeys(guesses))}?)" if guesses else ""
        sub.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


async def _until_signal(run: Callable[[asyncio.Event], Awaitable[int | None]], console: Console) -> int:
    """``run`` until SIGINT or SIGTERM asks it to stop, which it does in
    order (running tasks get their grace delay). A second Ctrl-C stops at
    once: the grid's processes die with this one (``local.lifeline``), a
    running task is retried once its lease expires."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def asked(sig: signal.Signals) -> None:
        if not stop.is_set():
            stop.set()
        elif sig is signal.SIGINT:
            console.print("[red]second Ctrl-C: stopping at once[/] (running tasks are retried when their lease ends)")
            logging.shutdown()
            os._exit(130)
        else:
            console.print("already stopping (Ctrl-C stops at once)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, asked, sig)
    return await run(stop) or 0


def _run(config: BaseSettings, console: Console) -> int:
    if isinstance(config, settings.LocalSettings):
        if config.demo:
            from pyarmonik.local.demo import run_demo

            return asyncio.run(run_demo(config, console))
        return asyncio.run(_until_signal(lambda stop: launcher.serve(config, console, stop), console))
    if isinstance(config, settings.ControlPlaneSettings):
        return asyncio.run(_until_signal(lambda stop: control_plane_process.run_control_plane(config, stop), console))
    if isinstance(config, settings.OperatorSettings):
        return asyncio.run(_until_signal(lambda stop: operator_process.run_operator(config, stop), console))
    assert isinstance(config, settings.AgentSettings)
    return asyncio.run(_until_signal(lambda stop: agent_process.run_agent(config, stop), console))


def _setup_logging(config: settings.LoggingSettings, console: Console) -> None:
    """Readable lines for people (rich), or one JSON object per line for log
    collectors (``--log-format json``); both carry the session/task ids."""
    handler: logging.Handler
    if config.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logcontext.JsonFormatter())
    else:
        handler = RichHandler(console=console, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s%(context_text)s"))
    handler.addFilter(logcontext.ContextFilter())
    logging.basicConfig(level=config.log_level, handlers=[handler], force=True)
    # Client libraries narrate their own retries; we report the outcome in one line.
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    console = Console(stderr=True)
    model = settings.COMMANDS[args.command]
    try:
        config = settings_flags.settings_from(args, model)
    except pydantic.ValidationError as exc:
        console.print(
            f"[red]pyarmonik {args.command}: invalid setting:[/] {escape(settings_flags.first_error(exc, model))}",
            soft_wrap=True,
        )
        sys.exit(2)
    assert isinstance(config, settings.LoggingSettings)
    _setup_logging(config, console)
    try:
        code = _run(config, console)
    except KeyboardInterrupt:
        code = 130
    except errors.PyArmoniKError as exc:
        console.print(f"[red]pyarmonik {args.command}: error:[/] {escape(exc.message)}", soft_wrap=True)
        code = 1
    except (OSError, ValueError, RuntimeError) as exc:
        console.print(f"[red]pyarmonik {args.command}: error:[/] {escape(str(exc))}", soft_wrap=True)
        code = 1
    with contextlib.suppress(Exception):
        logging.shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
