"""The operator's hands on the API server.

Children are written with server-side apply under one field manager, forced:
the operator owns the fields it sets, so a hand edit of one of them is put
back at the next reconcile, a deleted child is recreated, and fields others
set (an HPA's replicas, a user's annotation) are left alone. Calls are
synchronous (the ``kubernetes`` client); handlers run them in a thread.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

log = logging.getLogger(__name__)

FIELD_MANAGER = "pyarmonik-operator"
#: How long a kind the API server does not serve (KEDA not installed) is
#: taken as still missing.
MISSING_KIND_SECONDS = 300.0


def load_config() -> client.ApiClient:
    """In a pod, its service account; elsewhere, the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api = client.ApiClient()
    if not api.configuration.verify_ssl:
        # Said once here rather than by urllib3 on every request.
        log.warning("the kubeconfig skips TLS verification of %s", api.configuration.host)
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return api


class NoSuchKind(LookupError):
    """The API server does not serve this kind (its CRD is not installed)."""


class Kube:
    def __init__(self, api: client.ApiClient | None = None) -> None:
        self.api = api or load_config()
        self.dynamic = DynamicClient(self.api)
        self._missing: dict[tuple[str, str], float] = {}

    def _resource(self, api_version: str, kind: str) -> Any:
        # A kind found missing is not looked up again for a while: each miss
        # makes the client re-read the whole discovery.
        missing_until = self._missing.get((api_version, kind), 0.0)
        if time.monotonic() < missing_until:
            raise NoSuchKind(f"{kind} ({api_version}) is not served by the API server")
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            self._missing[(api_version, kind)] = time.monotonic() + MISSING_KIND_SECONDS
            raise NoSuchKind(f"{kind} ({api_version}) is not served by the API server") from None

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of ``obj`` (its owner references included)."""
        resource = self._resource(obj["apiVersion"], obj["kind"])
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
            found: dict[str, Any] = self._resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None
        return found

    def delete(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        """Deletes the object if it exists; ``False`` when it did not."""
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    def prune(self, api_version: str, kind: str, *, owner: dict[str, Any], keep: set[str]) -> list[str]:
        """Deletes the objects of ``kind`` that ``owner`` controls in its
        namespace, but for those named in ``keep``; returns the deleted names."""
        listed = self._resource(api_version, kind).get(namespace=owner["metadata"]["namespace"]).to_dict()
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

    def create_secret_once(self, secret: dict[str, Any]) -> None:
        """Creates the Secret unless it exists: generated credentials are made
        once and never rotated behind the users' backs."""
        try:
            client.CoreV1Api(self.api).create_namespaced_secret(secret["metadata"]["namespace"], secret)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status != 409:
                raise

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
        resource = self._resource(body["apiVersion"], body["kind"])
        self.dynamic.patch(
            resource,
            body={"metadata": {"ownerReferences": [*references, reference]}},
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
            content_type="application/merge-patch+json",
        )
