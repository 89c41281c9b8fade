# Coffer: `make run` brings up a whole network on this machine, `make test` runs the suite.
# Both create .venv and install what is missing first: `make run` only what running needs (and builds
# the web page with npm), `make test` the test tooling on top (the dev and bench extras, Azurite from
# npm, libfaketime, chromium and prometheus from apt).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck unit clean bench bench-quick bench-tools test-tools web screenshots

EMULATORS := tests/emulators
# import-linter lives apart: it brings rich, which httpx imports at start-up whenever it is
# installed, and the benchmarks measure the start of the coffer command as a user has it.
LINT_VENV := $(VENV)/import-linter

# What `coffer devnet` runs: the server and the fileserver (the client comes with either).
$(RUN_STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,fileserver]'
	touch $(RUN_STAMP)

# What the suite, the linters and the benchmarks need on top: the cloud SDKs and emulators, pytest,
# ruff, mypy, the chart and profile tools, and Azurite from npm.
$(STAMP): $(RUN_STAMP) $(EMULATORS)/package.json $(EMULATORS)/package-lock.json
	$(BIN)/python -m pip install --quiet -e '.[server,fileserver,dev,bench]'
	@command -v npm >/dev/null || { echo "make: npm is needed for the Azure Blob emulator (Azurite): install Node.js and npm"; exit 1; }
	npm ci --prefix $(EMULATORS) --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# The web page: TypeScript bundled by esbuild into web/dist (hashed asset names), which the server serves.
WEB := web
WEB_STAMP := $(WEB)/node_modules/.installed
NPM_MISSING := make: the web page is built with Node.js and npm, which are not installed: install them (Debian: apt-get install nodejs npm) and run make again

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "$(NPM_MISSING)"; exit 1; }
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

web: $(WEB_STAMP)
	node $(WEB)/build.mjs

run: $(RUN_STAMP) web
	$(BIN)/coffer devnet

$(LINT_VENV)/bin/lint-imports: $(STAMP)
	$(BIN)/python -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet 'import-linter>=2.1'

lint: $(STAMP) $(LINT_VENV)/bin/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=src $(LINT_VENV)/bin/lint-imports

typecheck: $(STAMP) $(WEB_STAMP)
	$(BIN)/mypy
	cd $(WEB) && node_modules/.bin/tsc --noEmit -p .

test: lint typecheck test-tools web
	$(BIN)/python -m pytest
	$(MAKE) bench-quick

# The fault tests run a fileserver with its clock moved by libfaketime, the web page's tests drive Debian's
# chromium (Playwright never downloads a browser here), and the monitoring tests run promtool and a real
# Prometheus, the scaled-out tests put nginx in front of two server instances, and an agent test holds a
# command with strace's syscall delays; install the Debian packages when missing.
test-tools:
	@missing=""; \
	ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || missing="$$missing libfaketime"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v promtool >/dev/null && command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "make: the tests need$$missing, and apt-get is not usable here (not root, or not Debian):"; \
		echo "      install those packages, or run without them (their tests skip outside CI)"; \
	fi

# The benchmarks start nginx (WebDAV module) and rclone themselves; install the Debian packages when missing.
bench-tools:
	@if command -v nginx >/dev/null && command -v rclone >/dev/null && command -v curl >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light rclone curl >/dev/null; \
	else \
		echo "make: the benchmarks need nginx (with the WebDAV module), rclone and curl, and apt-get is not usable here"; \
		echo "      (not root, or not Debian): install the packages nginx-light, rclone and curl, then run make again"; \
		exit 1; \
	fi

# Every part of the harness at a tiny size (about a minute); results under bench/results/quick/, not committed.
bench-quick: $(STAMP) bench-tools
	$(BIN)/python -m bench.run --quick

# The full run (20-40 min): bench/results/bench.json, chart.png, profile.txt and the tables of docs/performance.md.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.run

# The screenshots of docs/images/ (each page at 1280 and 360 px), taken in Debian's chromium on a network of their own.
screenshots: $(STAMP) test-tools web
	$(BIN)/python -m tests.web.screenshots docs/images

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
