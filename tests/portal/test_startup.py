"""Start-up through the real entry points (`python -c 'import wsgi'`, `flask --app wsgi run`, gunicorn
`wsgi:app`), each in its own process: a production configuration that is unsafe or incomplete stops
the process with one line an operator can act on, never a traceback and never a running server."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT_S = 20


@pytest.fixture
def environment(tmp_path):
    """A production environment with nothing inherited that could decide the outcome."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FLASK_", "PORTAL_", "GUNICORN_")) and key not in ("SECRET_KEY", "DATABASE_URL")}
    env.update(PORTAL_ENV="production", PORTAL_INSTANCE_PATH=str(tmp_path), JOBS_IN_PROCESS="0",
               DATABASE_URL=f"sqlite:///{tmp_path / 'startup.db'}", SECRET_KEY="a-long-random-production-key",
               GUNICORN_CMD_ARGS=f"--control-socket {tmp_path / 'gunicorn.ctl'}")
    return env


def start(command: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run an entry point; one that is still running after the timeout started a server, which fails."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{command} kept running (it started a server); stderr:\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def assert_refused_with_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


IMPORT = [sys.executable, "-c", "import wsgi"]
FLASK_RUN = [str(BIN / "flask"), "--app", "wsgi", "run", "--port", "0", "--no-reload"]
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", "127.0.0.1:0", "wsgi:app"]


@pytest.mark.parametrize("command", [IMPORT, FLASK_RUN, GUNICORN], ids=["import", "flask-run", "gunicorn"])
def test_production_without_a_secret_key_stops_with_one_line(environment, command):
    del environment["SECRET_KEY"]
    assert_refused_with_one_line(start(command, environment), "SECRET_KEY")


@pytest.mark.parametrize("command", [IMPORT, FLASK_RUN, GUNICORN], ids=["import", "flask-run", "gunicorn"])
def test_production_with_flask_debug_refuses_to_start(environment, command):
    environment["FLASK_DEBUG"] = "1"
    assert_refused_with_one_line(start(command, environment), "debug", "PORTAL_ENV=production")


@pytest.mark.parametrize("flag", ["--debug", "--debugger"])
def test_production_flask_run_with_the_debugger_flag_refuses_to_start(environment, flag):
    command = [str(BIN / "flask"), "--app", "wsgi", "run", "--port", "0", "--no-reload"]
    if flag == "--debug":
        command.insert(3, flag)  # `flask --app wsgi --debug run`
    else:
        command.append(flag)
    assert_refused_with_one_line(start(command, environment), "debug", "PORTAL_ENV=production")


def test_gunicorn_with_another_config_file_still_stops_once(environment, tmp_path):
    """Without our gunicorn.conf.py the worker refuses; gunicorn then stops instead of restarting it."""
    (tmp_path / "elsewhere.conf.py").write_text("workers = 1\n")
    del environment["SECRET_KEY"]
    result = start([*GUNICORN[:3], "--config", str(tmp_path / "elsewhere.conf.py"), *GUNICORN[3:]], environment)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "hisabpro: cannot start: SECRET_KEY must be set" in result.stderr
    assert result.stderr.count("Booting worker") == 1, result.stderr


def test_production_with_a_secret_key_and_no_debug_starts(environment):
    result = start([sys.executable, "-c", "import wsgi; print(wsgi.app.debug)"], environment)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr


def test_development_may_use_the_debugger(environment):
    environment.update(PORTAL_ENV="development", FLASK_DEBUG="1")
    result = start([sys.executable, "-c", "import wsgi; print(wsgi.app.debug)"], environment)
    assert (result.returncode, result.stdout.strip()) == (0, "True"), result.stderr
