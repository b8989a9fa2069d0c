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
DEFER := COURSE_DEFER_DESIGN_CHECKS=1
# Optional: an extra package index for PyTorch, e.g. its CPU-only wheels on Linux (see README):
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# JupyterLab settings shipped with the course (no news prompt, no update check), installed
# into the environment's own settings folder, which JupyterLab reads at start.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# The browser tests need Chromium (Debian/Ubuntu: apt-get install chromium).
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || \
	(test -x /usr/bin/chromium && echo /usr/bin/chromium))
# JupyterLab refuses to start as root unless told; containers often run as root.
ALLOW_ROOT := $(shell test "$$(id -u)" = 0 && echo --allow-root)
ROOT_WARNING := make lab: warning: running as root, so JupyterLab is started with --allow-root.

.PHONY: setup lab test test-browser data lint unit notebooks exercises-check grade-solutions \
        build-exercises refresh-outputs bench clean

setup: $(STAMP)

# The stamp is newer than every file that decides what gets installed, so a second
# `make setup` with nothing changed does no work.
$(STAMP): requirements.txt pyproject.toml jupyterlab-settings/overrides.json
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else \
		"Python 3.11 is required (found %d.%d); set PYTHON=/path/to/python3.11" % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
	@mkdir -p $(dir $(LAB_SETTINGS)) && cp jupyterlab-settings/overrides.json $(LAB_SETTINGS)
	@touch $(STAMP)

data: setup
	$(BIN)/python -m course_utils.data fetch

lab: setup
	@$(BIN)/python -m course_utils.data fetch || \
		echo "(No data yet: chapters 00, 03-07 work without it; run 'make data' when online.)"
	@$(if $(ALLOW_ROOT),echo "$(ROOT_WARNING)")
	@echo "make lab: JupyterLab opens notebooks/00_start_here.ipynb; open the http://localhost:... URL it prints below (with its token) if no browser window appears. Stop it with Ctrl+C twice, or File > Shut Down."
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/00_start_here.ipynb

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider tests

# Strict nbval on the textbook and the solutions (stored outputs are compared), lax on the
# exercises (they must run unsolved). A cell that hangs fails after 10 minutes.
# The design exercises' checks (they train the learner's model, cells tagged
# nbval-ignore-output) are left to grade-solutions, which runs each of them once in a fresh
# process; nbval would only train the same models a second time.
notebooks: data
	$(NB_ENV) $(DEFER) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider --nbval \
		--nbval-cell-timeout=600 --nbval-sanitize-with .nbval_sanitize.cfg notebooks solutions
	$(NB_ENV) $(DEFER) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider \
		--nbval-cell-timeout=600 --nbval-lax exercises

exercises-check: setup
	$(BIN)/python -m course_utils.exercises check

grade-solutions: data
	$(NB_ENV) $(BIN)/python -m course_utils.grade solutions -j $(JOBS)

test: setup data lint exercises-check unit notebooks grade-solutions
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory test-browser; else \
		echo "make test: browser tests skipped: no Chromium found (Debian/Ubuntu: apt-get install chromium; then make test-browser)"; fi
	@echo "make test: all checks passed"

# The course as a learner meets it: JupyterLab in headless Chromium (tests/browser/).
# Screenshots go to build/browser/.
test-browser: setup
	COURSE_BROWSER_TESTS=1 COURSE_CHROMIUM=$(CHROMIUM) $(NB_ENV) $(BIN)/pytest -q -p no:cacheprovider tests/browser

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

# ---- the course as a book ----------------------------------------------------
# A static, offline, searchable HTML book from the stored outputs (nothing is executed):
# build/book/index.html. Its packages (requirements-book.txt) go on top of the course's pins;
# MathJax and the widget manager come from the npm registry once, checked against the sha512
# pinned in book/assets.py, and are served from the book's own files. Warnings are errors.
BOOK_STAMP := $(VENV)/.book-installed
.PHONY: book
book: $(BOOK_STAMP)
	@TIMEFORMAT='make book: sphinx-build took %R s'; time \
		$(BIN)/sphinx-build -b html -c book -d build/book-doctrees -W --keep-going -q . build/book
	@echo "make book: done; open build/book/index.html"

$(BOOK_STAMP): $(STAMP) requirements-book.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-book.txt \
		-c requirements.txt
	@touch $@

# the browser tests read the built book (tests/browser/test_book.py); without npm (needed once
# to fetch MathJax and the widget manager) and without a built book, that test is skipped
test-browser: $(if $(shell command -v npm)$(wildcard build/book/index.html),book)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache course_utils.egg-info
