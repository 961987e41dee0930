# make book        create .venv if needed, install, run every chapter (default parameters), build
# make smoke-book  the same with the smoke parameters (seconds per chapter; what CI runs)
# make test        unit tests, doctests and lint
# make bench       performance benchmarks (print ratios measured in one run)
# make browser-check  open the built book offline in headless Chromium (installs Debian's chromium)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install book smoke-book test bench browser-check clean-book

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: letting the resolver pick pulls a multi-GB CUDA build.
# The stamp makes a second `make` instant; it is redone when pyproject.toml changes, and pip
# (and the network) is skipped when every requirement is already met (fedlib/book/deps.py).
$(STAMP): pyproject.toml | $(BIN)/python
	@if $(BIN)/python fedlib/book/deps.py; then \
		echo "environment already satisfies pyproject.toml: skipping pip"; \
	else \
		$(BIN)/python -m pip install torch==2.13.0 && \
		$(BIN)/python -m pip install -e '.[dev]'; \
	fi
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/fedbook build --params default

smoke-book: $(STAMP)
	$(BIN)/fedbook build --params smoke

test: $(STAMP)
	$(BIN)/pytest
	$(BIN)/ruff check .

# Debian's chromium, not Playwright's download (the machine reaches only package registries).
browser-check: $(STAMP)
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (needs root)"; \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }
	$(BIN)/pytest -q tests/test_reader_pages.py
	$(BIN)/fedbook check-html --browser --screenshots book/_build/screenshots

bench: $(STAMP)
	@set -e; for f in bench/bench_*.py; do \
		[ -e "$$f" ] || { echo "no benchmarks in bench/"; exit 0; }; \
		echo "== $$f"; $(BIN)/python "$$f"; done

clean-book:
	rm -rf book/_build book/_generated book/chapters
