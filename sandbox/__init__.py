"""HisabPro gateway sandbox: local Stripe, Razorpay and PayPal that the official SDKs accept.

    from sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig.for_tests()) as sb:   # every port free, fast webhook retries
        env = sb.portal_env()                         # credentials + *_API_BASE for the portal
        ...

Run standalone with ``python -m sandbox`` (ports: docs/configuration.md). Never imported by ``portal/``.
"""

from .config import DEMO_ENV, SandboxConfig
from .core import Sandbox

__all__ = ["DEMO_ENV", "Sandbox", "SandboxConfig"]
