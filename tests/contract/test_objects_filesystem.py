"""The filesystem object store against the ObjectStore contract, plus the
checks of its keys (they are paths under the storage root)."""

from __future__ import annotations

import pathlib

import pytest

from pyarmonik.core import errors
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore

from .objects_contract import ObjectStoreContract, assert_key_rejected_everywhere, failing_stream, read, stream

BAD_KEYS = [
    *["", "../x", "/etc/passwd", "a/../../b", "a/..", ".", "x\x00y", "..", "a/../b"],
    # More than a file name or a path may hold (ENAMETOOLONG, found by tests/fuzz).
    pytest.param("x" * 256, id="name-of-256-bytes"),
    pytest.param("é" * 128, id="name-of-256-utf8-bytes"),
    pytest.param("a/" * 2100, id="path-of-4200-bytes"),
]


class TestFileSystemObjectStore(ObjectStoreContract):
    @pytest.fixture
    def object_store(self, tmp_path: pathlib.Path) -> FileSystemObjectStore:
        return FileSystemObjectStore(tmp_path / "objects")

    async def test_a_file_on_the_same_filesystem_is_moved_into_place_not_copied(
        self, object_store: FileSystemObjectStore, tmp_path: pathlib.Path
    ) -> None:
        path = tmp_path / "output"
        path.write_bytes(b"result")
        inode = path.stat().st_ino
        assert await object_store.put_file("moved", path) == 6
        assert not path.exists()
        assert object_store.path_of("moved").stat().st_ino == inode
        assert await read(object_store, "moved") == b"result"

    async def test_a_file_is_not_taken_under_a_key_that_escapes_the_root(
        self, object_store: FileSystemObjectStore, tmp_path: pathlib.Path
    ) -> None:
        path = tmp_path / "output"
        path.write_bytes(b"x")
        with pytest.raises(errors.InvalidArgument):
            await object_store.put_file("../escaped", path)
        assert path.exists()

    def test_the_root_is_created_when_missing(self, tmp_path: pathlib.Path) -> None:
        root = tmp_path / "not" / "yet" / "there"
        FileSystemObjectStore(root)
        assert root.is_dir()

    async def test_an_object_is_the_file_of_its_key_under_the_root(self, object_store: FileSystemObjectStore) -> None:
        await object_store.put_bytes("session/result", b"data")
        assert (object_store.root / "session" / "result").read_bytes() == b"data"

    async def test_a_file_placed_under_the_root_is_an_object(self, object_store: FileSystemObjectStore) -> None:
        (object_store.root / "imported.bin").write_bytes(b"from outside")
        assert await object_store.size("imported.bin") == 12
        assert await read(object_store, "imported.bin") == b"from outside"

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_keys_that_could_leave_the_root_or_no_file_could_have_are_rejected_by_every_call(
        self, object_store: FileSystemObjectStore, key: str
    ) -> None:
        await assert_key_rejected_everywhere(object_store, key)

    async def test_the_error_for_a_bad_key_names_it(self, object_store: FileSystemObjectStore) -> None:
        with pytest.raises(errors.InvalidArgument, match=r"\.\./escape"):
            await object_store.put_bytes("../escape", b"x")

    async def test_a_symlink_out_of_the_root_is_rejected(
        self, object_store: FileSystemObjectStore, tmp_path: pathlib.Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (object_store.root / "link").symlink_to(outside)
        with pytest.raises(errors.InvalidArgument):
            await object_store.put_bytes("link/file", b"x")
        assert not (outside / "file").exists()

    async def test_a_delete_with_one_bad_key_deletes_nothing(self, object_store: FileSystemObjectStore) -> None:
        await object_store.put_bytes("a", b"1")
        with pytest.raises(errors.InvalidArgument):
            await object_store.delete(["a", "../b"])
        assert await object_store.size("a") == 1

    async def test_a_failed_streamed_put_leaves_no_file_at_all(self, object_store: FileSystemObjectStore) -> None:
        with pytest.raises(ConnectionError):
            await object_store.put("dir/k", failing_stream(b"partial"))
        assert [p for p in object_store.root.rglob("*") if p.is_file()] == []

    async def test_a_reader_sees_the_old_or_the_new_object_never_a_mix(
        self, object_store: FileSystemObjectStore
    ) -> None:
        await object_store.put_bytes("k", b"A" * 100)
        reader = object_store.get("k", chunk_size=10)
        first = await anext(reader)
        await object_store.put_bytes("k", b"B" * 100)
        rest = [chunk async for chunk in reader]
        assert first + b"".join(rest) == b"A" * 100
        assert await read(object_store, "k") == b"B" * 100

    async def test_a_key_that_is_a_prefix_of_other_keys_is_rejected(self, object_store: FileSystemObjectStore) -> None:
        await object_store.put_bytes("a/b", b"1")
        with pytest.raises(errors.InvalidArgument):
            await object_store.put_bytes("a", b"2")
        assert await object_store.size("a") is None
        assert [p.name for p in (object_store.root / "a").iterdir()] == ["b"]
        with pytest.raises(errors.NotFound):
            await read(object_store, "a")

    async def test_a_key_below_an_existing_object_is_rejected(self, object_store: FileSystemObjectStore) -> None:
        await object_store.put_bytes("a", b"1")
        with pytest.raises(errors.InvalidArgument):
            await object_store.put("a/b", stream(b"2"))
        assert await object_store.size("a/b") is None
        assert await read(object_store, "a") == b"1"
        assert sorted(p.name for p in object_store.root.iterdir()) == ["a"]

    async def test_a_non_positive_chunk_size_is_rejected(self, object_store: FileSystemObjectStore) -> None:
        await object_store.put_bytes("k", b"x")
        with pytest.raises(errors.InvalidArgument):
            await read(object_store, "k", chunk_size=0)
