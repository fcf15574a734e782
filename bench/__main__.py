"""``python -m bench``: N tasks through PyArmoniK's grids with the official
client and worker SDK and, with ``--peers``, through the floor, Dask, Celery
and Ray on the same machine; prints a table, ratios to the floor and the
targets, writes a JSON file and a PNG plot (into bench-results/, which git
ignores, unless --output-dir, --json or --png say otherwise).

    python -m bench --tasks 2000 --peers --output-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import time
from pathlib import Path

from rich.console import Console

from bench import cli, machine, peers, report, runner, servers, targets
from bench.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
#: Relative to where the benchmark runs (the checkout's root): listed in .gitignore.
OUTPUT_DIR = Path("bench-results")
ALL_PEERS = ("floor", *peers.PEERS)


def _names(value: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(unknown) or 'empty list'} (choose from {', '.join(allowed)})"
        )
    return names


def parser() -> argparse.ArgumentParser:
    count, number = cli.at_least(0, int), cli.at_least(0, float)
    parse = cli.OneLineParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parse.add_argument("--tasks", type=count, default=10_000, help="tasks per round (default 10000)")
    parse.add_argument("--duration-ms", type=number, default=0.0, help="work per task, a sleep (default 0)")
    parse.add_argument("--payload-bytes", type=count, default=8, help="payload size (default 8)")
    parse.add_argument("--result-bytes", type=count, default=8, help="result size (default 8)")
    parse.add_argument("--workers", type=count, default=2, help="worker processes per system (default 2)")
    parse.add_argument(
        "--retrieval-threads", type=count, default=4,
        help="concurrent download loops of the official client (default 4; 1: one loop, client-bound near 1,000/s)",
    )  # fmt: skip
    parse.add_argument("--rounds", type=count, default=1, help="rounds per system; the best is reported")
    parse.add_argument(
        "--targets",
        type=lambda v: _names(v, targets.TARGETS, "--targets"),
        default=list(targets.TARGETS),
        help="PyArmoniK grids, comma-separated: embedded,deployment (default both)",
    )
    parse.add_argument(
        "--peers",
        nargs="?",
        const=",".join(ALL_PEERS),
        type=lambda v: _names(v, ALL_PEERS, "--peers"),
        default=[],
        help="also run these, comma-separated (alone: floor,dask,celery,ray); a missing extra is skipped",
    )
    parse.add_argument("--grid-python", default=sys.executable, help="interpreter running the grid (another install's)")
    parse.add_argument("--timeout", type=number, default=600.0, help="seconds a round may take (default 600)")
    parse.add_argument(
        "--output-dir", type=Path, default=OUTPUT_DIR,
        help=f"folder of the JSON and PNG files, named after the run's start (default {OUTPUT_DIR}/, ignored by git)",
    )  # fmt: skip
    parse.add_argument("--json", type=Path, help="JSON output file (default: in --output-dir)")
    parse.add_argument("--png", type=Path, help="PNG plot file (default: in --output-dir)")
    return parse


def outputs(args: argparse.Namespace, started: float) -> tuple[Path, Path]:
    """The JSON and PNG files: as given, else named after the run's start in
    ``--output-dir`` (runs do not overwrite each other)."""
    stem = args.output_dir / time.strftime("bench-%Y%m%d-%H%M%S", time.localtime(started))
    return args.json or stem.with_suffix(".json"), args.png or stem.with_suffix(".png")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    servers.unwind_on_sigterm()
    if args.tasks < 1 or args.workers < 1 or args.rounds < 1:
        parser().error("--tasks, --workers and --rounds must be at least 1")
    if importlib.util.find_spec("matplotlib") is None:  # before a run that would end without its plot
        parser().error("the PNG plot needs matplotlib: pip install -e '.[bench]'")
    console = Console(width=None if sys.stdout.isatty() else 120)  # a log file gets the whole table
    # Worker processes of every system (Dask's, Celery's, Ray's, the grid's)
    # import ``bench`` by name.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    workload = Workload(
        args.tasks, args.duration_ms, args.payload_bytes, args.result_bytes, args.workers, args.timeout,
        retrieval_threads=args.retrieval_threads,
    )  # fmt: skip
    names = [*args.targets]
    skipped: dict[str, str] = {}
    for peer in args.peers:
        reason = peers.missing(peer) if peer in peers.PEERS else None
        if reason:
            skipped[peer] = reason
            console.print(f"{peer}: skipped: {reason}")
        else:
            names.append(peer)
    started = time.time()
    try:
        outcome = runner.run_all(names, workload, args.rounds, args.grid_python, console)
    except KeyboardInterrupt:  # every system started was stopped on the way out
        console.print("python -m bench: interrupted")
        return 130
    best = {
        name: max(o["rounds"], key=lambda s: s["phases"]["end_to_end"]["rate"])
        for name, o in outcome.items()
        if "rounds" in o
    }
    if best:
        report.table(best, console)
    found = report.targets(best)
    if found:
        console.print("Targets (ratios of this run, not assertions):")
        report.print_targets(found, console)
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "workload": dataclasses.asdict(workload),
        **machine.describe(args.grid_python),
        "systems": outcome,
        "skipped": skipped,
        "ratios_to_floor": report.ratios(best),
        "targets": found,
    }
    json_file, png_file = outputs(args, started)
    report.write_json(json_file, document)
    title = (
        f"{workload.tasks} tasks, {workload.duration_ms:g} ms, {workload.workers} workers, "
        f"retrieval by {workload.retrieval_threads} loop(s)"
    )
    report.write_png(png_file, best, title)
    console.print(f"Wrote {json_file} and {png_file}")
    return 1 if any("failed" in o for o in outcome.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
