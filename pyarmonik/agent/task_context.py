"""What a worker does during one Process call, buffered until it returns.

ArmoniK makes a worker's calls visible only when Process returns ok: results
it creates, data it notifies and child tasks it submits are kept here and
committed in one step by the pollster; a failed attempt leaves no trace.

The task's data folder is ``<data root>/<communication token>``, as
ArmoniK.Core's polling agent lays it out (``/cache/shared/<token>``):
frameworks such as PymoniK rebuild that path from the token alone, so the
token is the one value that names the folder. An agent keeps its folders
(``DataFolders``) and renames an emptied one to the next token: creating and
removing a folder per task was a quarter of the embedded grid's CPU.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyarmonik.core import errors, ids
from pyarmonik.core.models import Result, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus
from pyarmonik.lifecycle import tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports


def new_token() -> str:
    """Unguessable (a worker of another task cannot call in its name) and a
    valid directory name."""
    return secrets.token_hex(16)


@dataclass
class TaskContext:
    grid: Grid
    task: Task
    data_root: Path
    token: str = field(default_factory=new_token)
    new_results: dict[str, Result] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    children: list[Task] = field(default_factory=list)
    #: Records the claim already read (payload, dependencies, expected
    #: outputs): fetched or checked without reading them again.
    known_inputs: dict[str, Result] = field(default_factory=dict)
    #: The data of the small inputs, which came with the claim.
    known_data: dict[str, bytes] = field(default_factory=dict)

    @property
    def data_folder(self) -> Path:
        return self.data_root / self.token

    @property
    def session_id(self) -> str:
        return self.task.session_id

    def check_session(self, session_id: str) -> None:
        if session_id and session_id != self.session_id:
            raise errors.InvalidArgument(f"session {session_id} is not the session of task {self.task.task_id}")

    def commit(self) -> ports.TaskCommit:
        return ports.TaskCommit(new_results=list(self.new_results.values()), children=list(self.children))

    # -- results --------------------------------------------------------------
    def create_results(self, names: list[str]) -> list[Result]:
        at = self.grid.clock()
        created = [
            Result(
                session_id=self.session_id,
                result_id=ids.new_id(),
                name=name,
                status=ResultStatus.CREATED,
                created_at=at,
                created_by=self.task.task_id,
            )
            for name in names
        ]
        self.new_results.update((r.result_id, r) for r in created)
        return created

    def create_results_with_data(self, items: list[tuple[str, bytes]]) -> list[Result]:
        """Data goes to the data folder, to be uploaded with notified files."""
        created = self.create_results([name for name, _ in items])
        for result, (_, data) in zip(created, items):
            path = self.data_folder / result.result_id
            path.write_bytes(data)
            self.files[result.result_id] = path
        # The worker is told COMPLETED; the store hears it at commit.
        return [replace(r, status=ResultStatus.COMPLETED) for r in created]

    def discard(self, results: list[Result]) -> None:
        """Forgets results this attempt created, and their files: what a call
        that failed after creating them must leave behind."""
        for result in results:
            self.new_results.pop(result.result_id, None)
            path = self.files.pop(result.result_id, None)
            if path is not None:
                path.unlink(missing_ok=True)

    async def notify(self, result_ids: list[str]) -> list[str]:
        """Every file is checked before any is taken: a call naming one
        missing file notifies nothing."""
        await self._known_results(result_ids)
        paths = {result_id: self.data_folder / result_id for result_id in result_ids}
        for result_id, path in paths.items():
            if not path.is_file():
                raise errors.NotFound(f"result {result_id}: no file {path} in the data folder")
        self.files.update(paths)
        return result_ids

    # -- tasks ----------------------------------------------------------------
    async def submit(self, new: list[tasks.NewTask], *, batch_options: TaskOptions | None) -> list[Task]:
        session = await self.grid.state.get_session(self.session_id)
        submitter = tasks.Submitter(parent=self.task)
        built = tasks.build_tasks(session, new, batch_options=batch_options, submitter=submitter, at=self.grid.clock())
        await self._known_results([r for t in built for r in (*t.dependencies, *t.expected_output_ids)])
        await tasks.require_partitions(self.grid, built)
        self.children.extend(built)
        return built

    async def _known_results(self, result_ids: list[str]) -> None:
        """Every id must be a result of the session, committed or buffered."""
        unknown = sorted({r for r in result_ids if r not in self.new_results and r not in self.known_inputs})
        if unknown:
            await self.grid.state.get_results(unknown, session_id=self.session_id)

    async def fetch(self, result_id: str) -> Path:
        """GetResourceData: writes a completed result into the data folder."""
        result = self.known_inputs.get(result_id)
        data = self.known_data.get(result_id)
        if result is None:  # not an input of the claim: read now, small data with it
            found = await self.grid.state.result_data(self.session_id, result_id)
            status, opaque_id, data = found.status, found.opaque_id, found.data
        else:
            status, opaque_id = result.status, result.opaque_id
        if status is not ResultStatus.COMPLETED:
            raise errors.FailedPrecondition(f"result {result_id} is {status.name}, its data is not available")
        path = self.data_folder / result_id
        if data is not None:
            path.write_bytes(data)
            return path
        with path.open("wb") as handle:
            async for chunk in self.grid.objects.get(opaque_id.decode(), chunk_size=1024 * 1024):
                handle.write(chunk)
        return path


class DataFolders:
    """The data folders of one agent: each attempt gets one named after its
    token; when the attempt ends it is emptied and set aside under a hidden
    name, to be renamed for the next one (two renames and an unlink per file,
    instead of a mkdir and a tree removal)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._spare: list[Path] = []

    def take(self, token: str) -> Path:
        folder = self.root / token
        if self._spare:
            os.rename(self._spare.pop(), folder)
        else:
            folder.mkdir(parents=True)
        return folder

    def give_back(self, folder: Path) -> None:
        """Empties ``folder`` for a later attempt; one that cannot be emptied
        (a worker left something unremovable) is dropped instead."""
        spare = self.root / f".spare-{id(folder)}"  # no folder keeps the name of an ended attempt
        try:
            _empty(folder)
            os.rename(folder, spare)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            self._spare.append(spare)

    def close(self) -> None:
        for folder in self._spare:
            shutil.rmtree(folder, ignore_errors=True)
        self._spare.clear()


def _empty(folder: Path) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


@contextlib.contextmanager
def attempt(grid: Grid, task: Task, *, folders: DataFolders) -> Iterator[TaskContext]:
    """The context of one attempt, in an empty data folder of its own: a
    retry starts from an empty folder and no attempt leaves files behind."""
    ctx = TaskContext(grid, task, folders.root)
    folder = folders.take(ctx.token)
    try:
        yield ctx
    finally:
        folders.give_back(folder)
