# jupyter-mlops: the two commands a new user needs (see README.md).
#   make lab   - virtual environment, install, JupyterLab on 127.0.0.1 in examples/
#   make test  - install everything the tests need and run them all
#   make bench - every benchmark, one table, written to docs/benchmarks.md
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: lab test install lint pytest ui-tests bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

# JupyterLab refuses to run as root unless told; a root user (containers, CI boxes) is allowed.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --ServerApp.allow_root=True)

lab: install
	cd examples && $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT)

lint:
	$(BIN)/ruff check jupyter_mlops tests benchmarks
	$(BIN)/ruff format --check jupyter_mlops tests benchmarks
	cd labextension && $(BIN)/jlpm lint:check

# two processes (pytest-xdist), a test file per process at a time: most tests wait on
# kernels and servers, and files share their module-scoped fixtures
pytest:
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=20

ui-tests:
	MLOPS_PYTHON_BIN=$(BIN) bash ui-tests/run.sh

test: install lint pytest ui-tests

# every benchmark, one table (quick mode, < 5 min); writes docs/benchmarks.md
bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf jupyter_mlops/labextension labextension/lib labextension/node_modules ui-tests/node_modules
