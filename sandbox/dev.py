"""`python -m sandbox.dev COMMAND…`: start the sandbox, then run COMMAND (the portal) pointed at it.

`make run` uses this so one command gives a portal whose gateways answer: COMMAND gets the portal
environment (the sandbox's credentials and `*_API_BASE` URLs) on top of the caller's, and the sandbox
stops when COMMAND does.
"""
from __future__ import annotations

import os
import subprocess
import sys

from .config import SandboxConfig
from .core import Sandbox


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m sandbox.dev COMMAND [ARGS…]", file=sys.stderr)
        return 2
    sandbox = Sandbox(SandboxConfig.from_env())
    try:
        sandbox.start()
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc} (another sandbox running? ports come from SANDBOX_*_PORT)",
              file=sys.stderr)
        return 1
    try:
        print(f"Gateway sandbox: control {sandbox.control_url}/_sandbox/state, "
              + ", ".join(f"{name} {server.base_url}" for name, server in sandbox.servers.items()), flush=True)
        env = {**os.environ, **sandbox.portal_env()}
        try:
            return subprocess.call(argv, env=env)
        except KeyboardInterrupt:
            return 0
    finally:
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
