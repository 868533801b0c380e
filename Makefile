# edgec developer entry points. Everything runs in .venv, created from $(PYTHON) on first use.
#   make demo   compile examples/tiny_cnn.onnx, run it, compare with onnxruntime
#   make test   the whole test suite (PYTEST_ARGS="-k cli -x" to narrow it)
#   make clean  remove build outputs (keeps .venv; 'make distclean' removes it too)
#   make board  build the emulated aarch64 board (.cache/boards; 'make board-serve' runs its RPC server)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamp file: the install step re-runs only when pyproject.toml changes (or .venv is gone).
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test clean distclean board board-serve

demo: $(INSTALLED)
	$(PY) examples/demo.py

test: $(INSTALLED)
	$(PY) -m pytest -q $(PYTEST_ARGS)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-input -e '.[test]'
	touch $@

clean:
	rm -rf out build .pytest_cache *.egg-info
	find . \( -path ./$(VENV) -o -path ./.cache \) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache

# The emulated aarch64 board: a Debian arm64 userland with TVM's runtime, under qemu-aarch64
# (needs qemu-user). board-serve listens on 127.0.0.1:$(BOARD_PORT) until Ctrl-C.
BOARD_PORT ?= 9090
board: $(INSTALLED)
	$(PY) -m targets.boards build

board-serve: $(INSTALLED)
	$(PY) -m targets.boards serve --port $(BOARD_PORT)

# make bench: edgec (untuned) vs onnxruntime latency on the zoo models, 1 and 2 threads;
# rewrites the results table in README.md and bench/results/latency.json.
.PHONY: bench
bench: $(INSTALLED)
	mkdir -p bench/results
	$(PY) -m bench.latency --json bench/results/latency.json --readme README.md
