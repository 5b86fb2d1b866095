# ddpm_lit: the two commands of the README, and the steps they share.
#   make book   export the library, execute the notebooks (reusing those whose inputs are unchanged), build the HTML into _build/html
#   make test   check nbs/ and ddpm_lit/ are in step and clean, then run the notebooks and tests/ in parallel
# Each one makes its own virtual environment (.venv) and installs what it needs.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch==2.13.0 is a CPU build where a local wheel is offered (as on the CI machines) and the
# default CUDA build from PyPI elsewhere. Pass TORCH_SPEC=... to choose another build.
TORCH_SPEC ?= torch==2.13.0
# MathJax needs no step here: the Sphinx extension sphinx-mathjax-offline (a dev requirement in
# settings.ini, listed in _config.yml) copies it into the built book, which then reads offline.

.PHONY: book test install chromium check-sync clean

install: $(VENV)/.installed

# PyTorch comes through pip, which takes the local wheel where pip is configured to offer one; everything else through
# uv, which resolves the same versions from PyPI as pip does and installs them in seconds rather than minutes, and
# keeps the torch that pip installed.
$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" "uv<1"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $@

# The browser the book test opens pages in (Debian's chromium).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The book's models ship trained in nbs/book_runs: nbs/book_model.py retrains one (in place) only when its recipe,
# the trainer's source, torch's version or the threads it trains with have changed. The digits classifier's cache in nbs/_runs/cache is made afresh.
# Executed notebooks are kept in _build/.jupyter_cache between builds: a notebook runs again when its code cells change,
# and every one when anything else they read changes (tools/book_cache.py says which, and empties the cache); the
# errata, proof-map and tests pages run every time. The shipped runs are brought up to date first (nbs/book_model.py),
# so that a retraining happens before the cache's inputs are read, not under the build.
book: install
	$(BIN)/nbdev_export
	$(BIN)/python nbs/book_model.py
	$(BIN)/python tools/book_cache.py
	rm -rf _build/html _build/.doctrees nbs/_runs/cache
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

check-sync: install
	$(BIN)/python tools/check_sync.py

# nbs/_runs holds the caches the notebooks write (the digits classifier and its statistics): start afresh.
# One pytest-xdist worker per core (TEST_WORKERS), each file whole on one worker, the slowest files first
# (conftest.py orders them; --no-loadscope-reorder keeps xdist from reordering them by their number of tests);
# nbval's strict mode compares every stored output. No notebook cell is cut short before CI's own limit of 90
# minutes (nbval's default is 2000 s a cell, which a busy machine can pass while training the book's model), and a
# kernel may take 10 minutes to start. PYTEST_ARGS adds options, e.g. --durations=0.
TEST_WORKERS ?= auto
PYTEST_ARGS ?=
test: install chromium check-sync
	rm -rf nbs/_runs
	$(BIN)/python -m pytest --nbval nbs/ tests/ -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder --nbval-cell-timeout=5400 --nbval-kernel-startup-timeout=600 $(PYTEST_ARGS)

clean:
	rm -rf _build nbs/_runs
