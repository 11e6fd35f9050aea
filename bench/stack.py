"""The portal in its production shape, for benchmarks and drills: gunicorn workers over PostgreSQL and Redis,
the gateway sandbox behind it, on free ports, torn down afterwards.

    with Stack(workers=4) as stack:
        stack.base              # http://127.0.0.1:<port>, the portal
        stack.api_token         # a staff user's API token
        stack.sandbox           # the running Sandbox (control_url, faults, webhook targets)
        stack.app               # a Flask app on the same database, for seeding and checking

Each Stack gets a scratch PostgreSQL database (dropped on exit) and a Redis database number that it empties
first. BENCH_PG_ADMIN_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and BENCH_REDIS_URL
(default redis://127.0.0.1:6379/14) say where those live.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from sandbox import Sandbox, SandboxConfig  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, workers: int = 4, threads: int = 1, env: dict[str, str] | None = None,
                 sandbox: bool = True, sandbox_settings: dict | None = None) -> None:
        self.workers, self.threads, self.extra_env, self.with_sandbox = workers, threads, env or {}, sandbox
        self.sandbox_settings = sandbox_settings or {}  # SandboxConfig fields, e.g. webhook_max_attempts
        self.workdir = Path(tempfile.mkdtemp(prefix="hisabpro-stack-"))
        self.database = f"hp_stack_{os.getpid()}_{secrets.token_hex(3)}"
        self.database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sandbox: Sandbox | None = None
        self.server: subprocess.Popen | None = None
        self.api_token = ""

    # ---- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        try:
            self._create_database()
            redis.Redis.from_url(REDIS_URL).flushdb()
            if self.with_sandbox:
                self.sandbox = Sandbox(SandboxConfig.for_tests(frontend_url=self.base, **self.sandbox_settings))
                self.sandbox.start()
            self.env = self._portal_env()
            self.app = create_app({"INSTANCE_PATH": str(self.workdir), "SQLALCHEMY_DATABASE_URI": self.database_url,
                                   "SECRET_KEY": self.env["SECRET_KEY"], "REDIS_URL": REDIS_URL,
                                   **self._gateway_config()})
            with self.app.app_context():
                from flask_migrate import upgrade

                from portal.models import ApiToken
                from portal.users.accounts import create_user

                upgrade()
                user, _ = create_user("bench@example.com", "staff", None, password="benchmark password 1")
                row, self.api_token = ApiToken.issue(user)
                db.session.add(row)
                db.session.commit()
            self.start()
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if getattr(self, "app", None) is not None:
            with self.app.app_context():
                db.engine.dispose()
        self._drop_database()

    def start(self) -> None:
        """Start gunicorn (again) on the same port and wait until it answers."""
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--threads", str(self.threads),
             "--bind", f"127.0.0.1:{self.port}", "--control-socket", str(self.workdir / "gunicorn.ctl"),
             "wsgi:app"],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "gunicorn.log", "ab"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/api/v1/openapi.json", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer; see {self.workdir / 'gunicorn.log'}")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
        self.server = None

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes (children of the master), for drills that kill them."""
        if self.server is None:
            return []
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    # ---- helpers -------------------------------------------------------------------------------------
    def api(self, method: str, path: str, session: requests.Session | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_token}", **kwargs.pop("headers", {})}
        return (session or requests).request(method, self.base + "/api/v1" + path, headers=headers, timeout=30,
                                             **kwargs)

    def control(self, path: str, payload: dict) -> dict:
        response = requests.post(self.sandbox.control_url + path, json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def _portal_env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench-" + "x" * 32,
               "PORTAL_INSTANCE_PATH": str(self.workdir), "FRONTEND_URL": self.base}
        if self.sandbox is not None:
            env.update(self.sandbox.portal_env())
        env.update(self.extra_env)
        return env

    def _gateway_config(self) -> dict:
        from portal.config import load_config

        return {k: v for k, v in load_config(self.workdir, self.env).items()
                if k.startswith(("RAZORPAY_", "STRIPE_", "PAYPAL_", "GATEWAY_", "PAYMENT_"))}

    def _create_database(self) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()

    def _drop_database(self) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        admin.dispose()
