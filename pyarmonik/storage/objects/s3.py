"""Object store on an S3 bucket (MinIO, SeaweedFS, AWS...), as ArmoniK's S3 storage.

Each object is stored under its key in one bucket. The official ``minio``
client is synchronous, so its calls run in threads. Uploads are streamed: the
client reads each part from the caller's async iterator on the event loop
(``streams.ThreadReader``), so an upload holds about two parts in memory, and
one whose iterator fails is aborted: S3 only creates the object when the last
part is committed, so a failed put leaves nothing and keeps the previous
version. Uploads get their own threads because they wait on the event loop
for their data: in the default executor a few slow uploads would starve
every other ``to_thread`` call of the process.

Reads are ranged requests of one window (``part_size`` rounded to the chunk
size) pinned to the ETag seen first, so a reader never mixes two versions of
an object and holds no connection while its consumer is slow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import certifi
import minio
import urllib3
from minio import commonconfig, deleteobjects, helpers
from minio import error as minio_error

from pyarmonik.core import errors
from pyarmonik.storage.objects import files, streams

T = TypeVar("T")
MIN_PART_SIZE = 5 << 20  # S3's minimum size of every part but the last
MAX_PART_SIZE = 5 << 30
MAX_KEY_BYTES = 1024
_MAX_UPLOADS = 16  # concurrent uploads; more wait for a thread without reading their data
_MAX_CONNECTIONS = _MAX_UPLOADS + 32  # + the default executor's most threads: no connection is discarded
_DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


@dataclasses.dataclass(frozen=True, slots=True)
class S3Config:
    """Where the bucket is and how to talk to it.

    ``endpoint`` is ``host:port``; an ``http://``/``https://`` prefix sets
    ``secure`` from the URL. ``part_size`` is the size of upload parts and of
    download windows: the memory one transfer holds.
    """

    endpoint: str
    access_key: str
    secret_key: str = dataclasses.field(repr=False)
    bucket: str
    secure: bool = False
    region: str | None = None
    part_size: int = 8 << 20
    cert_check: bool = True

    def __post_init__(self) -> None:
        helpers.check_bucket_name(self.bucket)  # ValueError now rather than at the first call
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be in [{MIN_PART_SIZE}, {MAX_PART_SIZE}], got {self.part_size}")


def check_key(key: str) -> None:
    """``errors.InvalidArgument`` naming ``key`` when S3 would not store it
    under that exact name (servers normalise ``.``/``..`` and empty segments)
    or when it could not be a file name in an imported tree."""
    reason = None
    if not isinstance(key, str) or not key:
        reason = "empty"
    elif "\x00" in key:
        reason = "contains NUL"
    elif len(key.encode()) > MAX_KEY_BYTES:
        reason = f"longer than {MAX_KEY_BYTES} bytes"
    elif key.startswith("/"):
        reason = "absolute path"
    elif any(segment in ("", ".", "..") for segment in key.split("/")):
        reason = "empty, '.' or '..' path segment"
    if reason:
        raise errors.InvalidArgument(f"invalid object key {key!r}: {reason}")


class S3ObjectStore:
    """``ObjectStore`` keeping each object under its key in one S3 bucket."""

    def __init__(self, config: S3Config) -> None:
        endpoint, secure = _split_endpoint(config)
        self._endpoint = endpoint
        self._bucket = config.bucket
        self._region = config.region
        self._part_size = config.part_size
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=_MAX_CONNECTIONS,
            cert_reqs="CERT_REQUIRED" if config.cert_check else "CERT_NONE",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = minio.Minio(
            endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            secure=secure,
            region=config.region,
            http_client=self._http,
            cert_check=config.cert_check,
        )
        self._uploads = concurrent.futures.ThreadPoolExecutor(_MAX_UPLOADS, thread_name_prefix="s3-upload")

    @classmethod
    async def connect(cls, config: S3Config) -> S3ObjectStore:
        """A started store: the bucket exists and the credentials work."""
        store = cls(config)
        try:
            await store.start()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def bucket(self) -> str:
        return self._bucket

    async def start(self) -> None:
        """Creates the bucket when missing; ``errors.Unavailable`` in one line
        naming the endpoint when the server is unreachable or refuses us."""
        if not await self._call(self._client.bucket_exists, self._bucket):
            await self._call(self._create_bucket)

    def close(self) -> None:
        self._uploads.shutdown(wait=False, cancel_futures=True)
        self._http.clear()

    def _create_bucket(self) -> None:
        try:
            self._client.make_bucket(self._bucket, location=self._region)
        except minio_error.S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):  # lost a race: fine
                raise

    # -- writes -------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        loop = asyncio.get_running_loop()
        reader = streams.ThreadReader(chunks, loop)
        # In a copy of the caller's context, which the reader's tasks inherit: the
        # caller's iterator then sees its context variables (log context).
        upload = loop.run_in_executor(
            self._uploads, functools.partial(contextvars.copy_context().run, self._upload, key, reader)
        )
        try:
            await self._translate(upload)
        except streams.SourceFailed:
            if reader.error is None:  # its task was cancelled, but not this one
                raise errors.Cancelled(f"upload of {key} cancelled: its data stream was cancelled") from None
            raise reader.error from None  # the caller's own error, as from any store
        finally:
            reader.stop()  # an upload still running after a cancellation aborts
        return reader.size

    def _upload(self, key: str, reader: streams.ThreadReader) -> None:
        self._client.put_object(self._bucket, key, cast(BinaryIO, reader), -1, part_size=self._part_size)

    async def put_bytes(self, key: str, data: bytes) -> int:
        check_key(key)
        await self._call(self._put_bytes, key, data)
        return len(data)

    def _put_bytes(self, key: str, data: bytes) -> None:
        # BytesIO shares ``data`` (no copy); minio uploads it in parts when large.
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), part_size=self._part_size)

    async def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Concurrently, on the store's threads (each object is a request)."""
        for key, _ in items:  # validate all before writing any
            check_key(key)
        await asyncio.gather(*(self._call(self._put_bytes, key, data) for key, data in items))

    async def put_file(self, key: str, path: Path) -> int:
        return await files.put_by_reading(self, key, path)

    # -- reads --------------------------------------------------------------
    async def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise errors.InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
        check_key(key)
        info = await self._call(self._stat, key)
        if info is None:
            raise errors.NotFound(f"object not found: {key}")
        size, etag = info
        window = max(1, self._part_size // chunk_size) * chunk_size
        for offset in range(0, size, window):
            data = await self._call(self._read_range, key, offset, min(window, size - offset), etag)
            for start in range(0, len(data), chunk_size):
                yield data[start : start + chunk_size]

    def _read_range(self, key: str, offset: int, length: int, etag: str) -> bytes:
        try:
            headers: dict[str, Any] | None = {"If-Match": f'"{etag}"'} if etag else None
            response = self._client.get_object(self._bucket, key, offset, length, request_headers=headers)
        except minio_error.S3Error as exc:
            if exc.code == "NoSuchKey":
                raise errors.NotFound(f"object not found: {key} (deleted while being read)") from None
            if exc.code == "PreconditionFailed":
                raise errors.FailedPrecondition(f"object {key} was replaced while being read") from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def size(self, key: str) -> int | None:
        check_key(key)
        info = await self._call(self._stat, key)
        return None if info is None else info[0]

    def _stat(self, key: str) -> tuple[int, str] | None:
        try:
            info = self._client.stat_object(self._bucket, key)
        except minio_error.S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        return info.size or 0, info.etag or ""

    async def copy(self, source: str, target: str) -> int | None:
        """A server-side copy (CopyObject; a multipart copy beyond 5 GiB)."""
        check_key(source)
        check_key(target)
        return await self._call(self._copy, source, target)

    def _copy(self, source: str, target: str) -> int | None:
        try:
            self._client.copy_object(self._bucket, target, commonconfig.CopySource(self._bucket, source))
        except minio_error.S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        info = self._stat(target)
        return None if info is None else info[0]

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:  # validate all before deleting any
            check_key(key)
        if keys:
            await self._call(self._delete, list(keys))

    def _delete(self, keys: list[str]) -> None:
        # remove_objects is lazy: its errors only come (and requests only go) as it is consumed.
        failures = self._client.remove_objects(self._bucket, [deleteobjects.DeleteObject(key) for key in keys])
        failed = [f"{failure.name}: {failure.code}" for failure in failures if failure.code != "NoSuchKey"]
        if failed:
            raise errors.Unavailable(f"S3 endpoint {self._endpoint}: could not delete {', '.join(failed[:10])}")

    # -- errors -------------------------------------------------------------
    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await self._translate(asyncio.to_thread(function, *args))

    async def _translate(self, call: Awaitable[T]) -> T:
        """Awaits ``call``, turning client and transport failures into one-line
        ``errors.Unavailable`` naming the endpoint (the chain is dropped: the
        cause is in the message, and a traceback would hide it)."""
        try:
            return await call
        except minio_error.S3Error as exc:
            cause = f"credentials rejected ({exc.code})" if exc.code in _DENIED else _s3_cause(exc)
        except urllib3.exceptions.HTTPError as exc:
            cause = f"unreachable ({_root_cause(exc)})"
        except minio_error.MinioException as exc:
            cause = f"unexpected response ({' '.join(str(exc).split())})"
        raise errors.Unavailable(f"S3 endpoint {self._endpoint} bucket {self._bucket}: {cause}") from None


def _split_endpoint(config: S3Config) -> tuple[str, bool]:
    for scheme, secure in (("http://", False), ("https://", True)):
        if config.endpoint.startswith(scheme):
            return config.endpoint[len(scheme) :].rstrip("/"), secure
    return config.endpoint, config.secure


def _root_cause(exc: BaseException) -> str:
    """The innermost error's text ("[Errno 111] Connection refused") rather
    than urllib3's paragraph about pools and retries."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = cast(BaseException, exc.__cause__ or exc.__context__)
    return " ".join(str(exc).split()) or type(exc).__name__


def _s3_cause(exc: minio_error.S3Error) -> str:
    return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
