"""Object keys never cross users (docs/security.md, "Object keys").

An opaque id is shown to its result's user (``ResultRaw.opaque_id``), so it
travels in logs and notebooks: knowing one must give nobody else the data,
and deleting one result's data must never delete an object another result
still reads. alice and bob have the same role (every service, their own
sessions); objects an operator placed in the store are shared by design.
"""

from __future__ import annotations

import pathlib

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions

from tests.helpers import grpc_code

from ..conftest import default_options
from .conftest import SecureGrid

#: One object small enough for Redis' tier, one for the files behind it.
SIZES = {"small": b"alice's secret", "large": b"alice's large secret " * 400}


def new_session(channel: grpc.Channel) -> str:
    return ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])


def completed(channel: grpc.Channel, session_id: str, data: bytes) -> tuple[str, bytes]:
    """A result holding ``data``, and its opaque id (the object key)."""
    results = ArmoniKResults(channel)
    result_id = results.create_results({"data": data}, session_id)["data"].result_id
    opaque_id = results.get_result(result_id).opaque_id
    assert opaque_id
    return result_id, opaque_id


def waiting(channel: grpc.Channel, session_id: str) -> str:
    return ArmoniKResults(channel).create_results_metadata(["target"], session_id)["target"].result_id


@pytest.mark.parametrize("size", SIZES)
def test_another_users_object_cannot_be_imported(channels: dict[str, grpc.Channel], size: str) -> None:
    alice, bob = channels["alice"], channels["bob"]
    _, opaque_id = completed(alice, new_session(alice), SIZES[size])
    bob_session = new_session(bob)
    target = waiting(bob, bob_session)

    assert grpc_code(lambda: ArmoniKResults(bob).import_data(bob_session, [(target, opaque_id)])) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert ArmoniKResults(bob).get_result(target).status.name == "CREATED"


def test_a_refused_import_says_no_more_than_an_unknown_key(channels: dict[str, grpc.Channel]) -> None:
    alice, bob = channels["alice"], channels["bob"]
    _, opaque_id = completed(alice, new_session(alice), b"secret")
    bob_session = new_session(bob)
    results = ArmoniKResults(bob)

    def details(key: bytes) -> str:
        target = waiting(bob, bob_session)
        try:
            results.import_data(bob_session, [(target, key)])
        except grpc.RpcError as error:
            return str(error.details()).replace(key.decode(), "KEY").replace(target, "TARGET")  # type: ignore[attr-defined]
        raise AssertionError("imported")

    unknown = opaque_id[:-12] + b"0" * 12 if not opaque_id.endswith(b"0" * 12) else opaque_id[:-12] + b"1" * 12
    assert details(opaque_id) == details(unknown)


@pytest.mark.parametrize("size", SIZES)
def test_a_user_imports_its_own_object_into_a_result_that_owns_a_copy(
    channels: dict[str, grpc.Channel], size: str
) -> None:
    alice = channels["alice"]
    results = ArmoniKResults(alice)
    first = new_session(alice)
    source, opaque_id = completed(alice, first, SIZES[size])
    second = new_session(alice)
    target = waiting(alice, second)

    imported = results.import_data(second, [(target, opaque_id)])[target]

    assert imported.status.name == "COMPLETED" and imported.size == len(SIZES[size])
    assert results.download_result_data(target, second) == SIZES[size]
    results.delete_result_data([source], first)  # the source goes: the import keeps its copy
    assert results.download_result_data(target, second) == SIZES[size]


def test_deleting_an_imported_result_leaves_the_result_it_came_from(channels: dict[str, grpc.Channel]) -> None:
    alice = channels["alice"]
    results = ArmoniKResults(alice)
    session_id = new_session(alice)
    source, opaque_id = completed(alice, session_id, SIZES["large"])
    target = waiting(alice, session_id)
    results.import_data(session_id, [(target, opaque_id)])

    results.delete_result_data([target], session_id)

    assert results.download_result_data(source, session_id) == SIZES["large"]


def test_an_object_placed_by_an_operator_is_shared_and_never_deleted_by_the_grid(
    mtls_grid: SecureGrid, channels: dict[str, grpc.Channel]
) -> None:
    placed = pathlib.Path(mtls_grid.options.data_dir) / "objects" / "imports" / "reference.bin"
    placed.parent.mkdir(parents=True, exist_ok=True)
    placed.write_bytes(b"reference data")
    imported = {}
    for user in ("alice", "bob"):
        session_id = new_session(channels[user])
        result_id = waiting(channels[user], session_id)
        ArmoniKResults(channels[user]).import_data(session_id, [(result_id, b"imports/reference.bin")])
        imported[user] = session_id, result_id

    session_id, result_id = imported["alice"]
    ArmoniKResults(channels["alice"]).delete_result_data([result_id], session_id)
    ArmoniKSessions(channels["alice"]).cancel_session(session_id)
    ArmoniKSessions(channels["alice"]).purge_session(session_id)

    assert placed.read_bytes() == b"reference data"
    session_id, result_id = imported["bob"]
    assert ArmoniKResults(channels["bob"]).download_result_data(result_id, session_id) == b"reference data"


def test_a_key_shaped_like_the_grids_is_not_an_operators_object(
    mtls_grid: SecureGrid, channels: dict[str, grpc.Channel]
) -> None:
    """A file at the root named like a grid key is no result's: refused,
    so nobody can plant an object that a grid key would resolve to."""
    alice = channels["alice"]
    objects = pathlib.Path(mtls_grid.options.data_dir) / "objects"
    (objects / "planted.0123456789ab").write_bytes(b"planted")
    session_id = new_session(alice)
    target = waiting(alice, session_id)

    call = lambda: ArmoniKResults(alice).import_data(session_id, [(target, b"planted.0123456789ab")])  # noqa: E731
    assert grpc_code(call) == grpc.StatusCode.NOT_FOUND


def test_an_admin_imports_any_users_object(channels: dict[str, grpc.Channel]) -> None:
    """``General:AllSessions`` downloads any result: importing one is no more."""
    alice, admin = channels["alice"], channels["admin"]
    _, opaque_id = completed(alice, new_session(alice), b"alice's data")
    session_id = new_session(admin)
    target = waiting(admin, session_id)

    ArmoniKResults(admin).import_data(session_id, [(target, opaque_id)])

    assert ArmoniKResults(admin).download_result_data(target, session_id) == b"alice's data"
