# Kalipso developer commands. `make install` builds .venv with the project (editable) and its
# test tools; every other target uses that environment.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: install test lint demo bench clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test,server]'
	@touch $@

test: install
	$(VENV)/bin/ruff check src plugins tests benchmarks
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src plugins tests benchmarks

demo: install
	$(PY) -m kalipso --demo

bench: install
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_board.py
	$(PY) benchmarks/bench_views.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis
