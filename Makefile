# The two commands a newcomer needs: `make run` and `make test`. Everything else is setup.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PACKAGES = workflows activities definitions records simulation vein2vein worker.py

.PHONY: run test setup system-deps lint typecheck unit bench chaos clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,embedded]'
	touch $@

setup: $(BIN)/.installed

# PostgreSQL (ledger tests), Chromium (console tests) and docker-compose (validates the
# compose file; no Docker engine is needed) come from Debian's packages.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing:$$missing; install them with apt as root (see README)"; fi; \
	fi

# `make run PORT=8080 VEIN2VEIN_TEMPORAL_PORT=7300` moves the console and Temporal.
PORT ?= 8000
run: setup
	$(BIN)/vein2vein dev --demo --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy $(PACKAGES)

# Writes the traceability matrix (requirement -> tests -> result) to test-artifacts/ and fails
# when a catalogued requirement (requirements.toml) has no passing test.
unit: setup system-deps
	$(BIN)/pytest -q --traceability test-artifacts

test: lint typecheck unit

# The chaos test of `make test` at five times the batches (outside `make test`: minutes).
chaos: setup
	VEIN2VEIN_CHAOS_BATCHES=200 $(BIN)/pytest -q -p no:cacheprovider tests/realserver/test_chaos.py

# Figures, not pass/fail (see benchmarks/): framework overhead against a raw temporalio
# workflow, report-to-visible latency, 200 bookings at once, 10,000 open batches on the
# default workflow cache, recovery after a worker SIGKILL (200 batches answered within a
# second, then 1,000 answered after ~30 s, each with one and with two replacement workers)
# and after a dev server SIGKILL (200), then the first again with the simulated world on the
# measured server and worker, then replay cost per committed history, then a year of a
# 10-centre network on the simulator. Each recovery run first waits for the machine to idle.
bench: setup
	$(BIN)/python -m benchmarks.overhead --batches 50
	$(BIN)/python -m benchmarks.latency --samples 50
	$(BIN)/python -m benchmarks.burst --batches 200
	$(BIN)/python -m benchmarks.open_batches --batches 10000
	$(BIN)/python -m benchmarks.recovery --batches 200
	$(BIN)/python -m benchmarks.recovery --batches 200 --workers 2
	$(BIN)/python -m benchmarks.recovery --batches 200 --kill server
	$(BIN)/python -m benchmarks.recovery --batches 1000 --answer-seconds 30 --settle 40 \
		--observe-after 70 --patience 400
	$(BIN)/python -m benchmarks.recovery --batches 1000 --answer-seconds 30 --settle 40 \
		--observe-after 70 --patience 400 --workers 2
	$(BIN)/python -m benchmarks.recovery --batches 200 --world temporal
	$(BIN)/python -m benchmarks.replay
	$(BIN)/python -m benchmarks.simulate

clean:
	rm -rf $(VENV) .vein2vein .pytest_cache .mypy_cache .ruff_cache
