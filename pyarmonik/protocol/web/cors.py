"""Which other origins may call the API from a browser (CORS).

The Admin GUI served on the API's own origin needs nothing; a GUI served
elsewhere (its "change ArmoniK host" setting, a development server) makes
the browser ask first (a preflight ``OPTIONS``), and read the answer only
when it carries ``Access-Control-Allow-Origin``. Origins are listed one by
one, or ``*`` for any; none by default.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Response headers a gRPC-Web client must read across origins.
EXPOSED = "grpc-status, grpc-message, grpc-status-details-bin"
#: What a preflight answer holds for: ten minutes.
MAX_AGE = "600"


class Cors:
    def __init__(self, origins: Iterable[str] = ()) -> None:
        self._origins = frozenset(origin.rstrip("/") for origin in origins)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self._origins or origin in self._origins)

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The headers of an answer to ``origin`` (none for a same-origin or refused request)."""
        if not self.allows(origin):
            return []
        assert origin is not None
        return [("access-control-allow-origin", origin), ("access-control-expose-headers", EXPOSED), ("vary", "origin")]

    def preflight(self, origin: str | None, requested_headers: str) -> tuple[int, list[tuple[str, str]]]:
        """(HTTP status, headers) of the answer to a preflight ``OPTIONS``."""
        if not self.allows(origin):
            return 403, [("vary", "origin")]
        return 204, [
            *self.headers(origin),
            ("access-control-allow-methods", "POST, GET, OPTIONS"),
            ("access-control-allow-headers", requested_headers or "content-type, x-grpc-web, x-user-agent"),
            ("access-control-max-age", MAX_AGE),
        ]
