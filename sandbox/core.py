"""The sandbox as one object: three gateway servers, the control API, webhook delivery, expiry sweeping.

    from sandbox import Sandbox, SandboxConfig
    sb = Sandbox(SandboxConfig.for_tests())   # free ports
    sb.start()
    sb.api_bases    # {"STRIPE_API_BASE": "http://127.0.0.1:4xxxx", ...}
    sb.control_url  # "http://127.0.0.1:4xxxx"
    sb.stop()
"""

from __future__ import annotations

import threading
import time

from .config import GATEWAYS, SandboxConfig
from .faults import Fault, FaultController
from .ids import IdFactory
from .server import GatewayServer
from .webhooks import WebhookDispatcher, WebhookMode


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None):
        from .control import ControlApp
        from .paypal.app import PayPalGateway
        from .razorpay.app import RazorpayGateway
        from .stripe.app import StripeGateway

        self.config = config or SandboxConfig.from_env()
        self.ids = IdFactory(self.config.seed)
        self.webhooks = WebhookDispatcher(
            self.ids,
            max_attempts=self.config.webhook_max_attempts,
            backoff_s=self.config.webhook_backoff_s,
            backoff_max_s=self.config.webhook_backoff_max_s,
            timeout_s=self.config.webhook_timeout_s,
            workers=self.config.webhook_workers,
        )
        self.webhook_targets: dict[str, dict] = {}
        self.faults = {g: FaultController(self.config.hang_max_s) for g in GATEWAYS}
        self.servers: dict[str, GatewayServer] = {}
        self.gateways = {
            "stripe": StripeGateway(self),
            "razorpay": RazorpayGateway(self),
            "paypal": PayPalGateway(self),
        }
        for name, gateway in self.gateways.items():
            app = self.faults[name].wrap(gateway.wsgi_app, gateway.error_response)
            self.servers[name] = GatewayServer(name, app, self.config.host, self.config.port_of(name))
        self.control = ControlApp(self)
        self.control_server = GatewayServer("control", self.control.wsgi_app, self.config.host,
                                            self.config.control_port)
        self._stop_sweeper = threading.Event()
        self._sweeper: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Open every port (raises OSError, with nothing left open, when one is taken)."""
        try:
            for server in [*self.servers.values(), self.control_server]:
                server.start()
        except OSError:
            for server in [*self.servers.values(), self.control_server]:
                server.stop()
            raise
        self._stop_sweeper.clear()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sandbox-expiry", daemon=True)
        self._sweeper.start()
        return self

    def stop(self) -> None:
        """Close every port and stop delivering webhooks; a stopped Sandbox cannot be started again."""
        self._stop_sweeper.set()
        for controller in self.faults.values():
            controller.release_all()
        for server in [*self.servers.values(), self.control_server]:
            server.stop()
        self.webhooks.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- addresses -----------------------------------------------------------------------------
    @property
    def ports(self) -> dict[str, int]:
        return {"control": self.control_server.port, **{g: s.port for g, s in self.servers.items()}}

    @property
    def control_url(self) -> str:
        return self.control_server.base_url

    @property
    def api_bases(self) -> dict[str, str]:
        """`<GATEWAY>_API_BASE` values for the portal (docs/configuration.md)."""
        return {f"{g.upper()}_API_BASE": s.base_url for g, s in self.servers.items()}

    def portal_env(self) -> dict[str, str]:
        """Everything the portal needs to talk to this sandbox: credentials and API bases."""
        return {**self.config.credentials_env(), **self.api_bases}

    # ---- control operations (also reachable over HTTP, see control.py) --------------------------
    def set_fault(self, gateway: str, fault: Fault) -> None:
        self.faults[gateway].set(fault)
        server = self.servers[gateway]
        if fault.mode == "down":
            server.stop()
        elif not server.running:
            server.start()

    def set_webhook_mode(self, gateway: str, mode: WebhookMode) -> None:
        self.webhooks.set_mode(gateway, mode)

    def set_webhook_target(self, gateway: str, url: str, secret: str | None = None) -> None:
        self.webhook_targets[gateway] = {"url": url, "secret": secret}

    def webhook_url(self, gateway: str) -> str:
        target = self.webhook_targets.get(gateway)
        return target["url"] if target else self.config.webhook_url(gateway)

    def webhook_secret(self, gateway: str, default: str) -> str:
        target = self.webhook_targets.get(gateway)
        return (target or {}).get("secret") or default

    def reset(self) -> None:
        # Reseed first so that, with a seed, ids after a reset repeat those of a fresh start.
        self.ids.reseed(self.config.seed)
        for name in GATEWAYS:
            self.set_fault(name, Fault())
            self.gateways[name].reset()
        self.webhooks.reset()
        self.webhook_targets.clear()

    def state(self) -> dict:
        return {
            name: {
                "port": self.servers[name].port,
                "up": self.servers[name].running,
                "fault": self.faults[name].fault.describe(),
                "webhooks": {**self.webhooks.mode(name).describe(), "target": self.webhook_url(name)},
                **gateway.state(),
            }
            for name, gateway in self.gateways.items()
        }

    # ---- expiry --------------------------------------------------------------------------------
    def _sweep_loop(self) -> None:
        while not self._stop_sweeper.wait(self.config.expiry_sweep_s):
            now = time.time()
            for gateway in self.gateways.values():
                try:
                    gateway.sweep(now)
                except Exception:  # noqa: BLE001 - one bad object must not stop expiry for the rest
                    import logging

                    logging.getLogger(__name__).exception("expiry sweep failed for %s", gateway.name)
