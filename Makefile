# Two commands matter (README, Quick start): `make run` and `make test`. All targets: docs/cli.md.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
PYTHON3 ?= python3

.PHONY: run test install browser bench clean

# Re-install only when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

# The portal on :5000 with the gateway sandbox (docs/endpoints.md) on 12110-12113 behind it.
run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(PY) -m sandbox.dev $(FLASK) run --host 127.0.0.1 --port 5000

# Debian's Chromium for the end-to-end tests; Playwright drives it, nothing is downloaded at run time.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The suite on SQLite; then the database-backed tests again on PostgreSQL when TEST_DATABASE_URL is set.
test: install browser
	env -u TEST_DATABASE_URL $(PY) -m pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL"; $(PY) -m pytest -q tests/portal tests/payments; fi

bench: install
	$(PY) bench/invoice_list.py
	$(PY) bench/home_page.py
	$(PY) bench/link_creation.py
	$(PY) bench/api_overhead.py
	$(PY) bench/webhook_throughput.py
	$(PY) bench/drills.py worker-kill
	$(PY) bench/random_failures.py
	$(PY) bench/statistics_page.py

clean:
	rm -rf $(VENV) .pytest_cache
