# Two entry points for a fresh machine; each creates .venv and installs the pinned dependencies.
#   make demo   - the main job: universal-v2 relaxes structures across the periodic table and runs MD
#   make test   - the test suite (UNIHUB_DATA defaults to ../shared/data)
PY ?= python3
VENV := .venv
export UNIHUB_DATA ?= $(abspath ../shared/data)

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	bash .ci/install_peers.sh $(VENV)
	# matbench-discovery's metric functions only: its import pulls plotting stacks, so no deps
	$(VENV)/bin/pip install -q --no-deps matbench-discovery==1.3.1
	touch $@

.PHONY: install demo test lint
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/unihub demo

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check .
