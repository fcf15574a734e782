"""Object store on a local directory, as ArmoniK's "local storage".

Each object is a file under ``root``; its key is its path relative to
``root`` (ImportResultsData names files of the storage path this way). Keys
are checked so that none can escape ``root``.

Writes go to a temporary file in the target directory and are then renamed
over the object (``os.replace``): a reader sees the old object or the new
one, never a part, and a failed upload leaves nothing behind. A reader that
has started streaming keeps the version it opened.

File I/O is blocking; chunks are small and the disk is local, so only large
``put_bytes`` writes are moved to a thread. Nothing is fsynced: a crash of the
machine may lose recent objects (not corrupt them into partial ones on
filesystems that order data before renames).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import pathlib
import secrets
import shutil
import stat
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from pyarmonik.core import errors
from pyarmonik.storage.objects import files

_TEMP_SUFFIX = ".part"
#: ``os.link`` failures that mean "no hard links here": the file is copied instead.
_NO_LINKS = frozenset({errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})
_THREAD_THRESHOLD = 1 << 20  # put_bytes of more than 1 MiB is written from a thread
#: Longest file name and path (bytes) Linux and macOS filesystems take (NAME_MAX, PATH_MAX).
_NAME_MAX, _PATH_MAX = 255, 4096


class FileSystemObjectStore:
    """``ObjectStore`` keeping each object as a file under ``root``."""

    def __init__(self, root: pathlib.Path) -> None:
        root = pathlib.Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()

    @property
    def root(self) -> pathlib.Path:
        return self._root

    # -- keys ---------------------------------------------------------------
    def path_of(self, key: str, *, writing: bool = False) -> pathlib.Path:
        """The file of ``key``; ``errors.InvalidArgument`` when the key could
        name something outside ``root`` (or ``root`` itself).

        Writing a one-component key skips resolving symlinks (a syscall per
        path part, the store's hottest cost): ``os.replace`` replaces a link
        itself, never its target, so such a write cannot escape ``root``."""
        if not isinstance(key, str) or not key:
            raise errors.InvalidArgument(f"invalid object key {key!r}: empty")
        if "\x00" in key:
            raise errors.InvalidArgument(f"invalid object key {key!r}: contains NUL")
        relative = pathlib.PurePosixPath(key)
        if relative.is_absolute() or os.path.isabs(key):
            raise errors.InvalidArgument(f"invalid object key {key!r}: absolute path")
        if ".." in relative.parts or ".." in pathlib.PurePath(key).parts:
            raise errors.InvalidArgument(f"invalid object key {key!r}: '..' component")
        self._check_length(key, relative)
        if writing and len(relative.parts) == 1:
            return self._root / key
        path = (self._root / relative).resolve()
        if path == self._root or not path.is_relative_to(self._root):
            raise errors.InvalidArgument(f"invalid object key {key!r}: outside the storage root")
        return path

    def _check_length(self, key: str, relative: pathlib.PurePosixPath) -> None:
        """A key the filesystem cannot name (ENAMETOOLONG) is a bad key, not a failure of the store."""
        if any(len(os.fsencode(part)) > _NAME_MAX for part in relative.parts):
            raise errors.InvalidArgument(
                f"invalid object key {key!r}: a path component is longer than {_NAME_MAX} bytes"
            )
        if len(os.fsencode(str(self._root / relative))) >= _PATH_MAX:
            raise errors.InvalidArgument(
                f"invalid object key {key!r}: longer than {_PATH_MAX} bytes with the storage root {self._root}"
            )

    # -- writes -------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.path_of(key, writing=True)
        fd, temp = self._open_temp(key, path)
        size = 0
        try:
            with os.fdopen(fd, "wb") as file:
                async for chunk in chunks:
                    file.write(chunk)
                    size += len(chunk)
            self._replace(key, temp, path)
        except BaseException:
            _unlink_quietly(temp)
            raise
        return size

    async def put_bytes(self, key: str, data: bytes) -> int:
        path = self.path_of(key, writing=True)
        if len(data) > _THREAD_THRESHOLD:
            return await asyncio.to_thread(self._write_bytes, key, path, data)
        return self._write_bytes(key, path, data)

    def _write_bytes(self, key: str, path: pathlib.Path, data: bytes) -> int:
        fd, temp = self._open_temp(key, path)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            self._replace(key, temp, path)
        except BaseException:
            _unlink_quietly(temp)
            raise
        return len(data)

    async def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        for key, data in items:
            await self.put_bytes(key, data)

    async def put_file(self, key: str, path: pathlib.Path) -> int:
        """Renames the file into place: the agent's output files are on the
        shared folder, usually this store's filesystem, so no byte is copied.
        Across filesystems it is read and written like any other data."""
        target = self.path_of(key, writing=True)
        size = path.stat().st_size
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._replace(key, str(path), target)
        except (FileExistsError, NotADirectoryError) as exc:
            raise errors.InvalidArgument(f"invalid object key {key!r}: a parent is an object") from exc
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            return await files.put_by_reading(self, key, path)
        return size

    async def copy(self, source: str, target: str) -> int | None:
        """A hard link: no byte is copied, and either name outlives the other
        (a copy of the file where the filesystem has no links)."""
        origin = self.path_of(source)
        if await self.size(source) is None:
            return None
        path = self.path_of(target, writing=True)
        self._make_parent(target, path)
        temp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            try:
                os.link(origin, temp)
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                await asyncio.to_thread(shutil.copyfile, origin, temp)
            self._replace(target, temp, path)
        except FileNotFoundError:  # the source went meanwhile
            _unlink_quietly(temp)
            return None
        except BaseException:
            _unlink_quietly(temp)
            raise
        return path.stat().st_size

    def _make_parent(self, key: str, path: pathlib.Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise errors.InvalidArgument(f"invalid object key {key!r}: a parent is an object") from exc

    def _open_temp(self, key: str, path: pathlib.Path) -> tuple[int, str]:
        self._make_parent(key, path)
        try:
            return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
        except (FileExistsError, NotADirectoryError) as exc:
            raise errors.InvalidArgument(f"invalid object key {key!r}: a parent is an object") from exc

    def _replace(self, key: str, temp: str, path: pathlib.Path) -> None:
        try:
            os.replace(temp, path)
        except IsADirectoryError as exc:
            raise errors.InvalidArgument(f"invalid object key {key!r}: it is a prefix of other keys") from exc

    # -- reads --------------------------------------------------------------
    async def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise errors.InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
        path = self.path_of(key)
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed by the with below, across yields
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise errors.NotFound(f"object not found: {key}") from None
        with file:
            while chunk := file.read(chunk_size):
                yield chunk

    async def size(self, key: str) -> int | None:
        path = self.path_of(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    async def delete(self, keys: Sequence[str]) -> None:
        paths = [self.path_of(key) for key in keys]  # validate all before deleting any
        for path in paths:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
