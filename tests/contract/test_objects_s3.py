"""The S3 object store against the ObjectStore contract, on a real SeaweedFS
server, plus what only S3 has: the bucket, the endpoint, credentials,
multipart uploads, objects placed by other clients (ImportResultsData).

Every test gets its own bucket, so tests never see each other's objects.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import minio
import pytest

from pyarmonik.core import errors
from pyarmonik.storage.objects import s3
from pyarmonik.storage.objects.s3 import S3Config, S3ObjectStore

from ..helpers import wait_for
from ..servers import free_port
from .objects_contract import ObjectStoreContract, assert_key_rejected_everywhere, failing_stream, read, stream

pytestmark = pytest.mark.integration

PART = s3.MIN_PART_SIZE
BAD_KEYS = ["", "/abs", "../x", "a/../b", "a/..", ".", "a/./b", "x\x00y", "a//b", "dir/", "k" * 1025]


def unique_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:24]}"


@pytest.fixture
def s3_config(s3_server: S3Config) -> S3Config:
    """The session's server, a fresh bucket, and the smallest parts S3 allows
    (so that multipart uploads are cheap to exercise)."""
    return dataclasses.replace(s3_server, bucket=unique_bucket(), part_size=PART)


@pytest.fixture
def raw_client(s3_config: S3Config) -> Iterator[minio.Minio]:
    """Another S3 client on the same bucket, to see what the store left."""
    client = minio.Minio(s3_config.endpoint, s3_config.access_key, s3_config.secret_key, secure=False)
    yield client
    client._http.clear()


async def blocked_after(*chunks: bytes) -> AsyncIterator[bytes]:
    """Yields ``chunks`` then waits forever, like a client that stopped sending."""
    async for chunk in stream(*chunks):
        yield chunk
    await asyncio.Event().wait()


def pending_uploads(client: minio.Minio, bucket: str, key: str) -> list[object]:
    return list(client._list_multipart_uploads(bucket, prefix=key).uploads)


class TestS3ObjectStore(ObjectStoreContract):
    @pytest.fixture
    async def object_store(self, s3_config: S3Config) -> AsyncIterator[S3ObjectStore]:
        store = await S3ObjectStore.connect(s3_config)
        yield store
        store.close()

    async def test_the_bucket_is_created_when_missing(self, s3_config: S3Config, raw_client: minio.Minio) -> None:
        assert not raw_client.bucket_exists(s3_config.bucket)
        store = await S3ObjectStore.connect(s3_config)
        store.close()
        assert raw_client.bucket_exists(s3_config.bucket)
        again = await S3ObjectStore.connect(s3_config)  # an existing bucket is kept
        again.close()

    async def test_an_object_bigger_than_a_part_roundtrips(self, object_store: S3ObjectStore) -> None:
        data = os.urandom(2 * PART + 12345)
        pieces = [data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024)]
        assert await object_store.put("multi", stream(*pieces)) == len(data)
        assert await object_store.put_bytes("direct", data) == len(data)
        for key in ("multi", "direct"):
            assert await object_store.size(key) == len(data)
            assert await read(object_store, key, chunk_size=1 << 20) == data

    async def test_a_failed_multipart_upload_is_aborted(
        self, object_store: S3ObjectStore, raw_client: minio.Minio
    ) -> None:
        with pytest.raises(ConnectionError, match="upload interrupted"):
            await object_store.put("k", failing_stream(os.urandom(PART), os.urandom(PART)))
        assert await object_store.size("k") is None
        assert pending_uploads(raw_client, object_store.bucket, "k") == []

    async def test_a_cancelled_upload_is_aborted_not_completed_short(
        self, object_store: S3ObjectStore, raw_client: minio.Minio
    ) -> None:
        put = asyncio.create_task(object_store.put("k", blocked_after(os.urandom(2 * PART))))
        await asyncio.to_thread(wait_for, lambda: pending_uploads(raw_client, object_store.bucket, "k"))
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
        await asyncio.to_thread(wait_for, lambda: not pending_uploads(raw_client, object_store.bucket, "k"))
        assert await object_store.size("k") is None

    async def test_a_stream_cancelled_on_its_own_is_a_cancelled_upload(self, object_store: S3ObjectStore) -> None:
        async def cancelled() -> AsyncIterator[bytes]:
            yield b"partial"
            raise asyncio.CancelledError

        with pytest.raises(errors.Cancelled, match="k"):
            await object_store.put("k", cancelled())
        assert await object_store.size("k") is None

    async def test_more_concurrent_uploads_than_upload_threads_all_complete(self, object_store: S3ObjectStore) -> None:
        count = 2 * s3._MAX_UPLOADS + 1
        sizes = await asyncio.gather(*(object_store.put(f"k{i}", stream(b"x" * i, b"y")) for i in range(count)))
        assert sizes == [i + 1 for i in range(count)]
        assert [await object_store.size(f"k{i}") for i in range(count)] == sizes

    async def test_objects_placed_by_another_client_under_subfolders_are_read(
        self, object_store: S3ObjectStore, raw_client: minio.Minio
    ) -> None:
        raw_client.put_object(object_store.bucket, "imports/2024/run 1/data.bin", io.BytesIO(b"imported"), 8)
        assert await object_store.size("imports/2024/run 1/data.bin") == 8
        assert await read(object_store, "imports/2024/run 1/data.bin", chunk_size=3) == b"imported"
        assert await object_store.size("imports/2024") is None

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_invalid_keys_are_rejected_by_every_call(self, object_store: S3ObjectStore, key: str) -> None:
        await assert_key_rejected_everywhere(object_store, key)

    async def test_a_delete_with_one_bad_key_deletes_nothing(self, object_store: S3ObjectStore) -> None:
        await object_store.put_bytes("a", b"1")
        with pytest.raises(errors.InvalidArgument, match=r"\.\./b"):
            await object_store.delete(["a", "../b"])
        assert await object_store.size("a") == 1

    async def test_a_non_positive_chunk_size_is_rejected(self, object_store: S3ObjectStore) -> None:
        await object_store.put_bytes("k", b"x")
        with pytest.raises(errors.InvalidArgument):
            await read(object_store, "k", chunk_size=0)

    async def test_a_reader_never_mixes_two_versions(self, object_store: S3ObjectStore) -> None:
        await object_store.put_bytes("k", b"A" * (2 * PART))
        reader = object_store.get("k", chunk_size=PART)  # one chunk per ranged read
        assert await anext(reader) == b"A" * PART
        await object_store.put_bytes("k", b"B" * (2 * PART))
        with pytest.raises(errors.FailedPrecondition, match="replaced"):
            await anext(reader)

    async def test_the_callers_context_is_seen_by_its_stream(self, object_store: S3ObjectStore) -> None:
        variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
        seen = []

        async def chunks() -> AsyncIterator[bytes]:
            seen.append(variable.get())
            yield b"x"

        variable.set("caller")
        await object_store.put("k", chunks())
        assert seen == ["caller"]


async def test_an_unreachable_endpoint_is_unavailable_in_one_line_naming_it() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    config = S3Config(endpoint=endpoint, access_key="a", secret_key="b", bucket="bucket")
    with pytest.raises(errors.Unavailable, match=f"{endpoint}.*unreachable.*refused") as caught:
        await S3ObjectStore.connect(config)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("credentials", [("pyarmonik-tests", "wrong-secret"), ("unknown-key", "secret")])
async def test_rejected_credentials_are_unavailable_saying_so(
    s3_server: S3Config, credentials: tuple[str, str]
) -> None:
    access_key, secret_key = credentials
    config = dataclasses.replace(s3_server, access_key=access_key, secret_key=secret_key, bucket=unique_bucket())
    with pytest.raises(errors.Unavailable, match=f"{s3_server.endpoint}.*credentials rejected") as caught:
        await S3ObjectStore.connect(config)
    assert "\n" not in str(caught.value)


def test_the_config_hides_the_secret_and_checks_the_part_size_and_bucket() -> None:
    config = S3Config(endpoint="host:9000", access_key="key", secret_key="hush", bucket="bucket")
    assert "hush" not in repr(config)
    with pytest.raises(ValueError, match="part_size"):
        dataclasses.replace(config, part_size=PART - 1)
    with pytest.raises(ValueError, match="bucket name"):
        dataclasses.replace(config, bucket="ab")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_the_error_for_an_invalid_key_names_it(key: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        s3.check_key(key)
    assert repr(key) in str(caught.value)


@pytest.mark.parametrize("key", ["result-id", "imports/2024/run 1/data.bin", "a.b/c..d/.hidden", "é/ü"])
def test_ordinary_keys_are_accepted(key: str) -> None:
    s3.check_key(key)
