# make book        create .venv if needed, install, run every chapter (default parameters), build
# make smoke-book  the same with the smoke parameters (seconds per chapter; what CI runs)
# make test        unit tests, doctests and lint
# make bench       performance benchmarks (print ratios measured in one run; rewrite the README's bench block)
# make browser-check  open the built book offline in headless Chromium (installs Debian's chromium)
# make lock        regenerate requirements.lock from pyproject.toml (UPGRADE=1: newest versions)
# make flower-test the Flower adapter's tests, in .venv-flower (the optional extra; see README)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# pip-compile runs in its own venv so that it never changes the book's environment
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.6.2

.PHONY: install lock book smoke-book test bench browser-check flower-test clean-book

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Everything comes from requirements.lock: exact versions, each file checked against its hash,
# so a re-run next year installs the same packages. torch first, from its own hash-checked line
# of the lock (2.13.0+cpu, the CPU wheel; any other torch request pulls a multi-GB CUDA build).
# The stamp makes a second `make` instant; it is redone when pyproject.toml or the lock changes,
# and pip (and the network) is skipped when every locked package is already installed at its
# locked version (fedlib/book/deps.py). fedlib itself goes in last, editable, without deps and
# built with the locked setuptools (no build environment downloaded). A venv made before the
# switch to xgboost-cpu loses xgboost and its NCCL wheel first: xgboost-cpu writes the same files,
# so removing xgboost after it would break it.
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	@if $(BIN)/python fedlib/book/deps.py; then \
		echo "environment already matches $(LOCK): skipping pip"; \
	else \
		$(BIN)/python -m pip uninstall -y -q xgboost nvidia-nccl-cu12 2>/dev/null; \
		$(BIN)/python fedlib/book/deps.py --entry torch > $(VENV)/torch.lock && \
		$(BIN)/python -m pip install --require-hashes --no-deps -r $(VENV)/torch.lock && \
		$(BIN)/python -m pip install --require-hashes -r $(LOCK) && \
		$(BIN)/python -m pip install --no-deps --no-build-isolation -e . ; \
	fi
	touch $(STAMP)

# Regenerate the lock from pyproject.toml (runtime + dev) for this machine: Python 3.11, Linux
# x86_64. pip-compile resolves with pip's own configuration, so it sees the local CPU torch wheel;
# existing pins are kept where pyproject.toml still admits them, UPGRADE=1 takes the newest.
# tests/test_lock.py checks that the lock and pyproject.toml agree.
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || \
		{ $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install -q $(PIP_TOOLS); }
	CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
		--allow-unsafe --strip-extras --extra dev --no-emit-index-url --no-emit-find-links \
		$(if $(UPGRADE),--upgrade) --output-file $(LOCK) pyproject.toml

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

# bench_flower.py runs in .venv-flower when `make flower-test` has made it (else it says skipped)
bench: $(STAMP)
	@set -e; for f in bench/bench_*.py; do \
		[ -e "$$f" ] || { echo "no benchmarks in bench/"; exit 0; }; \
		py=$(BIN)/python; \
		if [ "$$f" = bench/bench_flower.py ] && [ -e $(FLOWER_VENV)/.installed ]; then \
			py="env PYTHONPATH=$(CURDIR) $(FLOWER_VENV)/bin/python"; fi; \
		echo "== $$f"; $$py "$$f"; done; \
	$(BIN)/fedbook bench-readme

# Flower is an optional extra outside the lock: flwr 1.42 needs packaging<26 where the lock has
# 26.x, so it goes into its own venv, which sees the book's locked packages through a .pth file
# placed after its own site-packages (its own packaging wins, everything else is the lock's).
FLOWER_VENV := .venv-flower
FLOWER_PIN := flwr[simulation]==1.42.0

$(FLOWER_VENV)/.installed: $(STAMP)
	$(PYTHON) -m venv $(FLOWER_VENV)
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
		"$$($(FLOWER_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz_book_venv.pth"
	$(FLOWER_VENV)/bin/python -m pip install -q '$(FLOWER_PIN)'
	touch $@

# PYTHONPATH: the book venv's editable-install hook is a .pth that only its own site runs.
# Every tests/test_flower*.py file: a new Flower test file is picked up without editing this.
flower-test: $(FLOWER_VENV)/.installed
	PYTHONPATH=$(CURDIR) $(FLOWER_VENV)/bin/python -m pytest -p no:cacheprovider \
		tests/test_flower*.py

clean-book:
	rm -rf book/_build book/_generated book/chapters
