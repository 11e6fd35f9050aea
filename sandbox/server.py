"""A WSGI app on its own port that can really go away.

``stop`` closes the listening socket *and* every open keep-alive connection, so a client that pooled a
connection gets connection refused on its next request, exactly as when a gateway is unreachable.
``start`` reopens on the same port. Werkzeug's threaded server writes each response without the
Nagle/delayed-ACK stall STYLE.md warns about.
"""

from __future__ import annotations

import logging
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # werkzeug logs every request on stderr otherwise
        log.debug("%s %s", self.command, self.path)

    def log_error(self, *args):
        pass


class _TrackingServer(ThreadedWSGIServer):
    """Remembers accepted sockets so they can be closed when the gateway goes down."""

    def __init__(self, host, port, app):
        self.open_connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(host, port, app, handler=_QuietHandler)

    def get_request(self):
        conn, addr = super().get_request()
        with self._conn_lock:
            self.open_connections.add(conn)
        return conn, addr

    def shutdown_request(self, request):
        with self._conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._conn_lock:
            conns = list(self.open_connections)
            self.open_connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class GatewayServer:
    def __init__(self, name: str, app, host: str, port: int):
        self.name = name
        self.app = app
        self.host = host
        self.port = port  # 0 until first start when an ephemeral port is wanted
        self._server: _TrackingServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            try:
                server = _TrackingServer(self.host, self.port, self.app)
            except SystemExit:
                # werkzeug prints the bind error and calls sys.exit(1); turn that back into an exception.
                raise OSError(f"cannot listen on {self.host}:{self.port} for {self.name}") from None
            self.port = server.server_port
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if thread is not None:
            thread.join(timeout=5)
