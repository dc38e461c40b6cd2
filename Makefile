# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Time-zone rules come from the pinned tzdata package only, never the system's zoneinfo
# (config/zones.py): every process started here runs with an empty zoneinfo search path.
export PYTHONTZPATH :=

.PHONY: run test lint typecheck pytest bench fmt clean lock mutate

# Installs exactly the locked versions (with hashes), then the package itself.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Re-resolve the lockfiles after changing dependencies in pyproject.toml (needs uv: pip install uv).
lock:
	$(BIN)/python -m uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock -q
	$(BIN)/python -m uv pip compile pyproject.toml --extra dev --extra tracing --generate-hashes \
		--python-version 3.11 -o requirements-dev.lock -q

## Start Temporal dev server, migrate SQLite, load the demo team and its cases, run worker + API.
## Ports: make run PORT=8080 TEMPORAL_PORT=7300 UI_PORT=8300 (HOST=0.0.0.0 to listen beyond localhost).
## Set on make's command line only (`:=`): a HOST or PORT the shell exports does not move the server.
HOST := 127.0.0.1
PORT := 8000
TEMPORAL_PORT := 7233
UI_PORT := 8233
run: $(STAMP)
	$(BIN)/followthrough dev --host $(HOST) --port $(PORT) --temporal-port $(TEMPORAL_PORT) --ui-port $(UI_PORT)

## The whole suite: lint, types, tests.
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Apply ruff's safe fixes, then format (`make lint` checks without changing anything).
fmt: $(STAMP)
	-$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy --strict domain workflows activities store workers services api cli config bench drills tests

# The suite in PYTEST_WORKERS processes (pytest-xdist; each starts its own Temporal servers,
# PostgreSQL cluster and browser): most of a test is waiting on them, so two share two cores well
# (docs/testing.md). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

## Mutation testing with mutmut (slow, not part of `make test`): domain/, services/access.py and
## the workflows' decision code against the fast unit tests; the figures per target and the
## survivors not accepted (docs/testing.md). MUTATE_CHILDREN=2 runs two mutants at once.
MUTATE_CHILDREN ?= 1
mutate: $(STAMP)
	$(BIN)/python scripts/mutate.py --max-children $(MUTATE_CHILDREN)

## The performance figures P1-P9 (bench/README.md), each against a baseline of the same run.
bench: $(STAMP)
	-$(BIN)/python -m bench.p1_api
	-$(BIN)/python -m bench.p1_floor
	-$(BIN)/python -m bench.p2_history
	-$(BIN)/python -m bench.p3_deadlines
	-$(BIN)/python -m bench.p4_absence
	-$(BIN)/python -m bench.p5_queue
	-$(BIN)/python -m bench.p6_create_rate
	-$(BIN)/python -m bench.p7_memory
	-$(BIN)/python -m bench.p8_ladder
	-$(BIN)/python -m bench.p9_fhir
	-$(BIN)/python -m bench.sandbox
	-$(BIN)/python -m bench.member_index

clean:
	rm -rf $(VENV) .temporal followthrough.db*
