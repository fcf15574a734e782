"""An agent's data folders: one per attempt, named after its token, reused."""

from __future__ import annotations

from pathlib import Path

from pyarmonik.agent import task_context


def test_a_folder_is_named_after_the_token_emptied_after_its_attempt_and_renamed_for_the_next(tmp_path: Path) -> None:
    folders = task_context.DataFolders(tmp_path / "shared")
    first = folders.take("token-1")
    assert first == tmp_path / "shared" / "token-1" and first.is_dir()
    (first / "payload").write_bytes(b"p")
    (first / "nested").mkdir()
    (first / "nested" / "file").write_bytes(b"n")
    inode = first.stat().st_ino
    folders.give_back(first)
    second = folders.take("token-2")
    assert second == tmp_path / "shared" / "token-2"
    assert second.stat().st_ino == inode  # the same folder, renamed: no mkdir per task
    assert not first.exists() and list(second.iterdir()) == []
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["token-2"]


def test_two_attempts_at_once_get_two_folders_and_close_removes_the_spares(tmp_path: Path) -> None:
    folders = task_context.DataFolders(tmp_path / "shared")
    one, two = folders.take("a"), folders.take("b")
    assert one != two and one.is_dir() and two.is_dir()
    folders.give_back(one)
    folders.give_back(two)
    folders.close()
    assert list((tmp_path / "shared").iterdir()) == []


def test_a_folder_that_cannot_be_emptied_is_dropped_not_reused(tmp_path: Path) -> None:
    folders = task_context.DataFolders(tmp_path / "shared")
    folder = folders.take("a")
    folder.rmdir()  # gone under the agent (a worker removed it)
    folders.give_back(folder)
    fresh = folders.take("b")
    assert fresh.is_dir() and fresh.name == "b"
