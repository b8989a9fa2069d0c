# The two commands a learner needs:   make lab   |   make test
# Everything else here is for maintainers.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2
# Notebooks run two at a time (one per core) with one thread each: no oversubscription, and
# the same arithmetic on every machine whatever its core count.
NB_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup lab test data lint unit notebooks exercises-check grade-solutions \
        build-exercises refresh-outputs bench clean

setup: $(STAMP)

# The stamp is newer than every file that decides what gets installed, so a second
# `make setup` with nothing changed does no work.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else \
		"Python 3.11 is required (found %d.%d); set PYTHON=/path/to/python3.11" % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
	@touch $(STAMP)

data: setup
	$(BIN)/python -m course_utils.data fetch

lab: setup
	@$(BIN)/python -m course_utils.data fetch || \
		echo "(No data yet: chapters 00, 03-07 work without it; run 'make data' when online.)"
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider tests

# Strict nbval on the textbook and the solutions (stored outputs are compared), lax on the
# exercises (they must run unsolved). A cell that hangs fails after 10 minutes.
notebooks: data
	$(NB_ENV) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider --nbval --nbval-cell-timeout=600 \
		--nbval-sanitize-with .nbval_sanitize.cfg notebooks solutions
	$(NB_ENV) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider --nbval-cell-timeout=600 \
		--nbval-lax exercises

exercises-check: setup
	$(BIN)/python -m course_utils.exercises check

grade-solutions: data
	$(NB_ENV) $(BIN)/python -m course_utils.grade solutions

test: setup data lint exercises-check unit notebooks grade-solutions
	@echo "make test: all checks passed"

# ---- maintainer targets ----------------------------------------------------
build-exercises: setup
	$(BIN)/python -m course_utils.exercises build

# Re-execute notebooks and solutions in place so their stored outputs are current.
# Same one-thread environment as the nbval targets, so stored and fresh outputs agree.
refresh-outputs: data
	$(NB_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 $(or $(NB),notebooks/*.ipynb solutions/*.ipynb)

bench: data
	$(BIN)/python -m course_utils.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache course_utils.egg-info
