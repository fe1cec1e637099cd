# Kalipso developer commands. `make install` builds .venv with the project (editable) and its
# test tools; every other target uses that environment.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: install test lint demo bench clean

install: $(STAMP)

# The editable install also gets a static .pth with src/ and plugins/: setuptools' editable finder
# runs after the ordinary sys.path scan, so without it a folder named "kalipso" in the current
# directory (the checkout itself, seen from its parent folder) is imported as an empty namespace
# package ("cannot import name '__version__' from 'kalipso' (unknown location)"). That is also
# what the silenced "Editable installation" notice warns about. (editable_mode=compat would put
# only src/ on the path, not plugins/; strict misses new modules until the next install.)
$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -e '.[test,server]'
	$(PY) -c 'import pathlib, sys, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "kalipso-checkout.pth").write_text("\n".join(sys.argv[1:]) + "\n")' '$(CURDIR)/src' '$(CURDIR)/plugins'
	@# compiled bytecode, as a pip install has: a start compiles nothing (~60-100 ms less)
	$(PY) -m compileall -q src plugins > /dev/null
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
	$(PY) benchmarks/bench_tables.py
	$(PY) benchmarks/bench_views.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis
