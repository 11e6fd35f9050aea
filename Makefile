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

# Debian packages the tests drive: Chromium for the end-to-end tests (Playwright drives it, nothing is downloaded
# at run time) and poppler-utils (pdftotext, pdftoppm) to read the PDFs the portal renders.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium poppler-utils; }

# The suite on SQLite; then the database-backed tests again on PostgreSQL when TEST_DATABASE_URL is set.
test: install browser
	env -u TEST_DATABASE_URL $(PY) -m pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL"; $(PY) -m pytest -q tests/portal tests/payments; fi

# Every benchmark in the production shape, then BENCHMARKS.md from what they saved (bench/report.py). A script
# that fails does not stop the others; its figures show as not measured and make exits non-zero at the end.
BENCHES := bench/invoice_list.py bench/home_page.py bench/api_overhead.py \
           bench/random_failures.py bench/webhook_throughput.py "bench/drills.py worker-kill" \
           "bench/drills.py two-instances" bench/statistics_page.py

bench: install
	rm -rf bench/results
	@failed=""; for script in $(BENCHES); do echo "== $$script"; \
	  $(PY) $$script || failed="$$failed [$$script]"; done; \
	$(PY) bench/report.py; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .pytest_cache
