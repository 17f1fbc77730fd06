# renderbot — the two quick-start commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3

.PHONY: install system-deps python-deps node-deps demo test test-fast lint serve clean

install: system-deps python-deps node-deps

# Node.js/npm and Chromium. Installed with apt-get when missing and we are root;
# otherwise say in one line what to install.
system-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  else echo "install Node.js 20+ and npm first"; exit 1; fi; }
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "install Chromium first (Debian: apt-get install chromium)"; exit 1; fi; }
	@[ -x /usr/bin/chromium-headless-shell ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium-headless-shell; \
	  else echo "install chromium-headless-shell first (Debian: apt-get install chromium-headless-shell)"; exit 1; fi; }

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $@

python-deps: $(VENV)/.installed

remotion/node_modules/.installed: remotion/package.json remotion/package-lock.json
	npm ci --prefix remotion --no-audit --no-fund --loglevel=error
	touch $@

node-deps: remotion/node_modules/.installed

demo: install
	$(VENV)/bin/renderbot demo

# The whole suite, on TEST_WORKERS pytest-xdist workers (each its own Redis DB, PostgreSQL
# database, render server and temp dirs; tests that start several processes run beside
# in-process tests only, the other workers' shares starting with those: tests/conftest.py).
# Three workers on two cores: most tests wait on sockets, renders and subprocesses, not on
# the CPU. Work stealing: an idle worker takes tests from the end of another's share.
# TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 3
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: SQLite variants only, without the multi-process topologies, stop at the
# first failure. `make test` (and .ci/run) still runs everything.
test-fast: install
	$(PY) -m pytest $(XDIST) -q -x -m "not heavy" -k "not postgresql" $(PYTEST_ARGS)

serve: install
	$(VENV)/bin/renderbot serve

clean:
	rm -rf var .pytest_cache
