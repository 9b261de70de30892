# Two entry points (see README.md): `make demo` and `make test`.
# Each creates its own virtual environment and installs everything it needs.
# torch is pinned to 2.13.0: on the reference machines that is the CPU build on local disk;
# an unpinned torch pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labelwise-installed
DEMO_OUT ?= demo-out

.PHONY: demo test lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,data]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labelwise simulate --dataset digits-flat --model mlp --strategy random,margin,bald,power-bald \
		--batch-size 10 --budget 150 --seeds 3 --mc-samples 20 --epochs 40 --lr 0.003 \
		--train-batch-size 32 --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/mypy
	$(BIN)/python -m pytest tests

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache
