# Floyo: `make demo` runs it on this machine, `make test` runs every check. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup system-packages browser demo stop test lint typecheck pytest bench-ingest bench-agent bench-lake bench-mining bench-train bench-ranker bench-scale bench-serving bench-soak wrk clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,spark]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: setup  ## start Floyo (embedded PostgreSQL, API and dashboard in the background), ingest the sample log, summarise
	$(BIN)/floyo demo

system-packages:  ## Debian packages the tests drive, installed when missing: zsh (the agent's shell tests), chromium (the dashboard's browser test; Playwright never downloads one), a Java runtime (the Spark engine's tests)
	@missing=""; for p in zsh:zsh chromium:chromium java:default-jre-headless; do \
	  command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	if [ -n "$$missing" ]; then SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

browser: system-packages

stop: setup  ## stop the background dashboard, API and the embedded PostgreSQL
	$(BIN)/floyo stop

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy .

pytest: setup system-packages
	$(BIN)/pytest

test: lint typecheck pytest  ## every check: ruff, mypy, the whole pytest suite

bench-ingest: setup
	$(BIN)/python -m bench.ingest

bench-agent: setup
	$(BIN)/python -m bench.agent

bench-lake: setup
	$(BIN)/python -m bench.lake

bench-mining: setup
	$(BIN)/python -m bench.mining

bench-train: setup
	$(BIN)/python -m bench.train

bench-ranker: setup
	$(BIN)/python -m bench.ranker

bench-scale: setup system-packages  ## local vs Spark local[2] training on lakes of 2M, 10M and 30M events (about an hour, 17 GB peak)
	nice -n 10 $(BIN)/python -m bench.scale

wrk:  ## the load generator of bench-serving (Debian's package), installed when missing
	@command -v wrk >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }

bench-serving: setup wrk  ## GET /api/v1/suggestions against /api/v1/me under wrk (database floyo_bench_serving)
	$(BIN)/python -m bench.serving

bench-soak: setup  ## 10 minutes of mixed load against one server (database floyo_bench_soak): stored = sent, RSS, p99
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
