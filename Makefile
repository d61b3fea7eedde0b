PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-container lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,server]'
	touch $(STAMP)

# The demo keeps its state in ./.kitaru-demo unless KITARU_CONFIG_PATH is set.
demo: $(STAMP)
	KITARU_CONFIG_PATH=$${KITARU_CONFIG_PATH:-$(CURDIR)/.kitaru-demo} $(PY) examples/demo.py

# Includes the `container` tier (tests/container): a private dockerd and real containers.
# Two pytest workers: most of the suite's time is subprocesses importing ZenML,
# each on one core. tests/conftest.py hands each worker whole modules.
test: $(STAMP)
	@echo "make test: includes the container tier, which as root installs docker.io and" \
		"mmdebstrap with apt-get when missing and starts a private dockerd" \
		"(make test-fast runs everything else)."
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --durations=15

# Everything but the `container` tier: no apt-get, no dockerd, no root needed.
test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n 2 -m "not container"

# Only the `container` tier.
test-container: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m container

lint: $(STAMP)
	$(VENV)/bin/ruff check kitaru tests examples benchmarks
	$(VENV)/bin/ruff format --check kitaru tests examples benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
