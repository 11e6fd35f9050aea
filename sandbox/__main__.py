"""`python -m sandbox`: start the three gateways and the control API, print where they listen, run until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .config import DEMO_ENV, SandboxConfig
from .core import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--seed", type=int, help="deterministic ids (overrides SANDBOX_SEED)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")

    config = SandboxConfig.from_env()
    if args.seed is not None:
        config.seed = args.seed
    sandbox = Sandbox(config)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc} (is another sandbox running? ports come from SANDBOX_*_PORT)",
              file=sys.stderr)
        sandbox.stop()
        return 1

    print(f"sandbox control API  {sandbox.control_url}/_sandbox/state", flush=True)
    demo = {k for k, v in config.credentials_env().items() if DEMO_ENV[k] == v}
    for name, server in sandbox.servers.items():
        source = "demo" if any(k.startswith(name.upper()) for k in demo) else "environment"
        print(f"sandbox {name:<9}    {server.base_url}  credentials: {source}  "
              f"webhooks -> {sandbox.webhook_url(name)}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
