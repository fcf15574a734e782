"""The operator's hands on the API server.

Children are written with server-side apply under one field manager, forced:
the operator owns the fields it sets, so a hand edit of one of them is put
back at the next reconcile, a deleted child is recreated, and fields others
set (an HPA's replicas, a user's annotation) are left alone. Calls are
synchronous (the ``kubernetes`` client); handlers run them in a thread.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import threading
import time
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

log = logging.getLogger(__name__)

FIELD_MANAGER = "pyarmonik-operator"
#: How long a kind the API server does not serve (KEDA not installed) is taken
#: as still missing before one request (its group version's resource list)
#: checks again: a KEDA installed later is picked up this soon.
MISSING_KIND_SECONDS = 10.0
NO_CREDENTIALS = (
    "no Kubernetes credentials: outside a cluster, set KUBECONFIG or write ~/.kube/config (kubectl's); "
    "in a pod, run under a ServiceAccount whose token is mounted (the chart's operator Deployment does)"
)


def load_config() -> client.ApiClient:
    """In a pod, its service account; elsewhere, the kubeconfig (KUBECONFIG).
    Raises ``RuntimeError`` with one line saying where credentials are looked for."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as exc:
            raise RuntimeError(f"{NO_CREDENTIALS} ({exc})") from None
    api = client.ApiClient()
    if not api.configuration.verify_ssl:
        # Said once here rather than by urllib3 on every request.
        log.warning("the kubeconfig skips TLS verification of %s", api.configuration.host)
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return api


class NoSuchKind(LookupError):
    """The API server does not serve this kind (its CRD is not installed)."""


class Kube:
    """The API as the operator's handlers use it, from several threads at once.

    Kinds are resolved once and kept: the client's discovery cache is not
    thread-safe (two threads missing at once re-read it together and one
    finds it half-built: ``KeyError: 'resources'``), so lookups hold a lock
    and a resolved kind is never looked up again."""

    def __init__(self, api: client.ApiClient | None = None) -> None:
        self.api = api or load_config()
        self._lock = threading.Lock()
        self.dynamic = DynamicClient(self.api)
        self._resources: dict[tuple[str, str], Any] = {}
        self._missing: dict[tuple[str, str], float] = {}

    def resource(self, api_version: str, kind: str) -> Any:
        """The client's resource of ``kind``; ``NoSuchKind`` when not served."""
        key = (api_version, kind)
        with self._lock:
            found = self._resources.get(key)
            if found is None:
                found = self._resources[key] = self._discover(api_version, kind)
            return found

    def _discover(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        if key in self._missing:
            # A miss makes the client re-read the whole discovery: first ask,
            # every MISSING_KIND_SECONDS, the one group version whether the kind appeared.
            if time.monotonic() < self._missing[key]:
                raise NoSuchKind(f"{kind} ({api_version}) is not served by the API server")
            if not self._serves(api_version, kind):
                self._missing[key] = time.monotonic() + MISSING_KIND_SECONDS
                raise NoSuchKind(f"{kind} ({api_version}) is not served by the API server")
            self.dynamic.resources.invalidate_cache()
        try:
            found = self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            self._missing[key] = time.monotonic() + MISSING_KIND_SECONDS
            raise NoSuchKind(f"{kind} ({api_version}) is not served by the API server") from None
        self._missing.pop(key, None)
        return found

    def _serves(self, api_version: str, kind: str) -> bool:
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            listed = self.dynamic.request("GET", path).to_dict()
        except NotFoundError:
            return False
        return any(item.get("kind") == kind for item in listed.get("resources") or [])

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of ``obj`` (its owner references included)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        applied = self.dynamic.server_side_apply(
            resource,
            body=obj,
            name=obj["metadata"]["name"],
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        result: dict[str, Any] = applied.to_dict()
        return result

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None
        return found

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of ``kind`` in ``namespace`` (``None``: every namespace)."""
        listed: dict[str, Any] = self.resource(api_version, kind).get(namespace=namespace).to_dict()
        items: list[dict[str, Any]] = listed.get("items") or []
        return items

    def patch_status(self, body: dict[str, Any], status: dict[str, Any]) -> None:
        """Merges ``status`` into the object's status subresource (a list in
        it, like ``conditions``, is replaced whole)."""
        metadata = body["metadata"]
        resource = self.resource(body["apiVersion"], body["kind"]).subresources["status"]
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: no status to write
            self.dynamic.patch(
                resource,
                body={"status": status},
                name=metadata["name"],
                namespace=metadata.get("namespace"),
                content_type="application/merge-patch+json",
            )

    def post_event(self, body: dict[str, Any], *, type: str, reason: str, message: str) -> None:
        """A Kubernetes Event about ``body`` (what ``kubectl describe`` lists)."""
        metadata = body["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata.get("namespace") or "default"},
            "involvedObject": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": metadata["name"],
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
            },
            "type": type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            namespace = str(event["metadata"]["namespace"])  # type: ignore[index]
            client.CoreV1Api(self.api).create_namespaced_event(namespace, event)  # type: ignore[arg-type]
        except ApiException as exc:  # an event is a courtesy, never a reason to fail
            log.warning("event %s on %s %s not posted: %s", reason, body["kind"], metadata["name"], exc.reason)

    def delete(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        """Deletes the object if it exists; ``False`` when it did not."""
        try:
            self.resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    def prune(self, api_version: str, kind: str, *, owner: dict[str, Any], keep: set[str]) -> list[str]:
        """Deletes the objects of ``kind`` that ``owner`` controls in its
        namespace, but for those named in ``keep``; returns the deleted names."""
        listed = self.resource(api_version, kind).get(namespace=owner["metadata"]["namespace"]).to_dict()
        uid, deleted = owner["metadata"]["uid"], []
        for item in listed.get("items") or []:
            metadata = item["metadata"]
            owned = any(
                ref.get("uid") == uid and ref.get("controller") for ref in metadata.get("ownerReferences") or []
            )
            if (
                owned
                and metadata["name"] not in keep
                and self.delete(api_version, kind, metadata["name"], metadata["namespace"])
            ):
                deleted.append(metadata["name"])
        return deleted

    def secret_data(self, name: str, namespace: str) -> dict[str, str] | None:
        """The decoded data of a Secret, or ``None`` when it does not exist."""
        secret = self.get("v1", "Secret", name, namespace)
        if secret is None:
            return None
        return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}

    def create_secret_once(self, secret: dict[str, Any]) -> dict[str, Any]:
        """Creates the Secret unless it exists, and returns the one stored:
        generated credentials are made once (whoever creates the Secret
        first wins) and never rotated behind the users' backs."""
        namespace, name = secret["metadata"]["namespace"], secret["metadata"]["name"]
        try:
            client.CoreV1Api(self.api).create_namespaced_secret(namespace, secret)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status != 409:
                raise
        stored = self.get("v1", "Secret", name, namespace)
        if stored is None:
            raise RuntimeError(f"Secret {namespace}/{name} was created and is gone")
        return stored

    def add_owner(self, body: dict[str, Any], owner: dict[str, Any]) -> None:
        """Makes ``owner`` an owner of ``body`` (not its controller), so that
        deleting the owner garbage-collects ``body`` and what it owns."""
        references = body["metadata"].get("ownerReferences") or []
        if any(ref.get("uid") == owner["metadata"]["uid"] for ref in references):
            return
        reference = {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
        resource = self.resource(body["apiVersion"], body["kind"])
        self.dynamic.patch(
            resource,
            body={"metadata": {"ownerReferences": [*references, reference]}},
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
            content_type="application/merge-patch+json",
        )
