# ddpm_lit: the two commands of the README, and the steps they share.
#   make book   export the library, execute every notebook, build the HTML book into _build/html
#   make test   check nbs/ and ddpm_lit/ are in step and clean, then run the notebooks and tests/
# Each one makes its own virtual environment (.venv) and installs what it needs.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch==2.13.0 is a CPU build where a local wheel is offered (as on the CI machines) and the
# default CUDA build from PyPI elsewhere. Pass TORCH_SPEC=... to choose another build.
TORCH_SPEC ?= torch==2.13.0
MATHJAX_VERSION ?= 3.2.2
MATHJAX := _static/mathjax/tex-chtml.js

.PHONY: book test install mathjax chromium check-sync clean

install: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# MathJax served from the book itself, so equations typeset with no network.
mathjax: $(MATHJAX)

$(MATHJAX):
	rm -rf .cache/npm _static/mathjax
	mkdir -p .cache/npm _static
	npm install --silent --no-audit --no-fund --prefix .cache/npm mathjax@$(MATHJAX_VERSION)
	cp -r .cache/npm/node_modules/mathjax/es5 _static/mathjax

# The browser the book test opens pages in (Debian's chromium).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

book: install mathjax
	$(BIN)/nbdev_export
	rm -rf _build/html _build/.doctrees nbs/_runs
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

check-sync: install
	$(BIN)/python tools/check_sync.py

# nbs/_runs holds the digits model the book trains once per run (see nbs/book_model.py): start afresh.
test: install mathjax chromium check-sync
	rm -rf nbs/_runs
	$(BIN)/python -m pytest --nbval nbs/ tests/ -p no:cacheprovider

clean:
	rm -rf _build .cache _static/mathjax nbs/_runs
