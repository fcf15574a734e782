"""The control plane's HTTP port, assembled from its settings: gRPC-Web
through the very servicers and interceptors of the gRPC port
(``methods``), the GUI's files beside it, the API's TLS files."""

from __future__ import annotations

from pyarmonik import settings
from pyarmonik.control_plane import gui, versions_service
from pyarmonik.control_plane import tls as tls_files
from pyarmonik.core import limits
from pyarmonik.protocol.web import server
from pyarmonik.protocol.web.asgi import GrpcWebApp
from pyarmonik.protocol.web.cors import Cors
from pyarmonik.protocol.web.methods import Methods

WHAT = "gRPC-Web and the GUI"


def _setting(model: type[settings.BaseSettings], name: str) -> str:
    return f"{settings.flag_of(name)} or {settings.env_of(model, name)}"


def _hint() -> str:
    return f"choose another port with {_setting(settings.WebSettings, 'http_port')}, or 'off'"


def check_port(host: str, web: settings.WebSettings) -> None:
    """A busy HTTP port, refused in one line before anything starts (``local``
    checks it before it starts its Redis and its processes)."""
    if web.http_port:
        server.check_free(host, web.http_port, what=WHAT, hint=_hint())


def http_server(
    methods: Methods,
    *,
    host: str,
    web: settings.WebSettings,
    security: settings.SecuritySettings,
    max_message_size: int,
) -> server.HttpServer:
    """The server of ``web.http_port`` (which is set); ``ValueError`` in one
    line for a GUI folder or configuration file that cannot be served."""
    assert web.http_port is not None
    if web.gui_configuration is not None and not web.gui_configuration.is_file():
        raise ValueError(f"--gui-configuration {web.gui_configuration}: no such file")
    cors = Cors(web.cors_allowed_origins)
    version = versions_service.core_version()
    files = gui.GuiFiles(
        gui.mounts(web.gui) if web.gui is not None else [],
        environment=gui.environment(
            web.gui_name, version, f"PyArmoniK {version}, ArmoniK API {versions_service.api_version()}", web.gui_color
        ),
        configuration=web.gui_configuration,
        cors=cors,
    )
    app = GrpcWebApp(
        methods,
        max_message=limits.Limit(max_message_size, _setting(settings.LimitSettings, "max_message_size")),
        cors=cors,
        fallback=files,
    )
    context = None
    if security.tls_cert_file is not None and security.tls_key_file is not None:
        files_ = tls_files.TlsFiles(security.tls_cert_file, security.tls_key_file, security.tls_client_ca_file)
        context = tls_files.ssl_context(files_)
    return server.HttpServer(app, host=host, port=web.http_port, ssl_context=context, what=WHAT, hint=_hint())
