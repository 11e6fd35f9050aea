"""The portal in its production shape, for benchmarks and drills: gunicorn workers over PostgreSQL and Redis,
the gateway sandbox behind it, on free ports, torn down afterwards.

    with Stack(workers=4) as stack:
        stack.base              # http://127.0.0.1:<port>, the portal
        stack.api_token         # a staff user's API token
        stack.sandbox           # the running Sandbox (control_url, faults, webhook targets)
        stack.app               # a Flask app on the same database, for seeding and checking

    with Stack(workers=2, instances=2) as stack:   # two gunicorn masters, as two machines would run them
        stack.bases             # [http://127.0.0.1:<port 0>, http://127.0.0.1:<port 1>]
        stack.instance(1).base  # the second one; stack.base is always the first
        stack.api("GET", "/gateways", instance=1)

Every instance runs the same code with the same environment (database, Redis, SECRET_KEY, FRONTEND_URL:
the public address a load balancer would answer on) and an instance folder of its own.

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


class Instance:
    """One gunicorn master with its workers on a port of its own."""

    def __init__(self, number: int, workdir: Path, workers: int, threads: int) -> None:
        self.number, self.workers, self.threads = number, workers, threads
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        """Start gunicorn (again) on the same port and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--threads", str(self.threads),
             "--bind", f"127.0.0.1:{self.port}", "--control-socket", str(self.workdir / "gunicorn.ctl"),
             # Each request's own time in the worker, for figures judged on server time.
             "--access-logfile", str(self.workdir / "access.log"), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s",
             "wsgi:app"],
            cwd=REPO, env={**env, "PORTAL_INSTANCE_PATH": str(self.workdir)}, stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "gunicorn.log", "ab"))
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

    def server_times_ms(self, method: str, path: str) -> list[float]:
        """How long the worker spent on each request to `path` so far (gunicorn's access log, %(D)s)."""
        log = self.workdir / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [int(micros) / 1000 for m, p, _, micros in (line.split() for line in lines if line.count(" ") == 3)
                if (m, p) == (method, path)]

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes (children of the master), for drills that kill them."""
        if self.server is None:
            return []
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []


class Stack:
    def __init__(self, workers: int = 4, threads: int = 1, env: dict[str, str] | None = None,
                 sandbox: bool = True, sandbox_settings: dict | None = None, instances: int = 1) -> None:
        self.workers, self.threads, self.extra_env, self.with_sandbox = workers, threads, env or {}, sandbox
        self.sandbox_settings = sandbox_settings or {}  # SandboxConfig fields, e.g. webhook_max_attempts
        self.workdir = Path(tempfile.mkdtemp(prefix="hisabpro-stack-"))
        self.database = f"hp_stack_{os.getpid()}_{secrets.token_hex(3)}"
        self.database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        # The first instance keeps the stack's own folder, so single-instance logs stay where they were.
        self.instances = [Instance(n, self.workdir if n == 0 else self.workdir / f"instance-{n}", workers, threads)
                          for n in range(instances)]
        self.port, self.base = self.instances[0].port, self.instances[0].base
        self.sandbox: Sandbox | None = None
        self.api_token = ""

    @property
    def bases(self) -> list[str]:
        return [instance.base for instance in self.instances]

    def instance(self, number: int) -> Instance:
        return self.instances[number]

    @property
    def server(self) -> subprocess.Popen | None:
        return self.instances[0].server

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
        """Start every instance's gunicorn (again) on its own port and wait until each answers."""
        for instance in self.instances:
            instance.start(self.env)

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()

    def worker_pids(self) -> list[int]:
        """The first instance's gunicorn workers (children of its master), for drills that kill them."""
        return self.instances[0].worker_pids()

    # ---- helpers -------------------------------------------------------------------------------------
    def api(self, method: str, path: str, session: requests.Session | None = None, instance: int = 0,
            **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_token}", **kwargs.pop("headers", {})}
        return (session or requests).request(method, self.bases[instance] + "/api/v1" + path, headers=headers,
                                             timeout=30, **kwargs)

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
