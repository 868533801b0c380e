# edgec developer entry points. Everything runs in .venv, created from $(PYTHON) on first use.
#   make demo   compile examples/tiny_cnn.onnx, run it, compare with onnxruntime
#   make test   the whole test suite (PYTEST_ARGS="-k cli -x" to narrow it)
#   make clean  remove build outputs (keeps .venv; 'make distclean' removes it too)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamp file: the install step re-runs only when pyproject.toml changes (or .venv is gone).
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test clean distclean

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
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
