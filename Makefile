# The commands a learner needs:   make lab   |   make test   |   make grade [NB=03]
# Everything else here is for maintainers.
SHELL := /bin/bash
# This Makefile's folder: the checkout (also when `make test` runs it in its shipped copy).
HERE := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2
# Notebooks run two at a time (one per core) with one thread each: no oversubscription, and
# the same arithmetic on every machine whatever its core count.
NB_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DEFER := COURSE_DEFER_DESIGN_CHECKS=1
LONGEST_FIRST := $(wildcard notebooks/08_*.ipynb)
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
# The movie-review cache; the shipped copy below reads this checkout's cache, not its own.
export COURSE_DATA_DIR ?= $(CURDIR)/data
# `make test` tests the course as shipped: a copy of this checkout (build/ is git-ignored) in
# which exercises/ is what the generator writes from solutions/. A learner's own exercises/ are
# never read by the tests nor modified; `make grade` grades them.
SHIPPED := build/shipped
# (This Makefile, read in the copy's folder: the same file, and `make -n test` works without one.
# -o: the outer make has installed; the copy must never point the editable install at itself.)
SHIPPED_MAKE = mkdir -p $(SHIPPED) && env PYTHONPATH=$(abspath $(SHIPPED)) $(MAKE) \
	--no-print-directory -C $(SHIPPED) -f $(HERE)/Makefile VENV=$(abspath $(VENV)) JOBS=$(JOBS) \
	-o $(abspath $(STAMP))
# test-portability: strict nbval with OpenBLAS forced to each kernel family below, and with
# PyTorch's CPU kernels (ATen, oneDNN, MKL) limited to that family's instruction set.
# SkylakeX (AVX-512) is skipped on a CPU without AVX-512, where it cannot run.
PORTABILITY := Prescott:default:SSE41:SSE4_2 Haswell:avx2:AVX2:AVX2 SkylakeX:avx512:AVX512_CORE:AVX512

.PHONY: setup lab test test-browser test-portability data lint unit notebooks exercises-check \
        grade grade-solutions browser build-exercises refresh-outputs bench book clean

setup: $(STAMP)

# The stamp is newer than every file that decides what gets installed, so a second
# `make setup` with nothing changed does no work.
$(STAMP): $(HERE)/requirements.txt $(HERE)/pyproject.toml $(HERE)/jupyterlab-settings/overrides.json
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else \
		"Python 3.11 is required (found %d.%d); set PYTHON=/path/to/python3.11" % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.txt \
		--no-build-isolation -e '.[distributed]'
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; exit 1; }
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

# --no-respect-gitignore: the shipped copy lives under build/, which git ignores.
lint: setup
	$(BIN)/ruff check --no-respect-gitignore .

UNIT ?= tests
unit: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider $(UNIT)

# Strict nbval on the textbook and the solutions (stored outputs are compared), lax on the
# exercises (they must run unsolved). A cell that hangs fails after 10 minutes.
# The design exercises' checks (they train the learner's model, cells tagged
# nbval-ignore-output) are left to grade-solutions, which runs each of them once in a fresh
# process; nbval would only train the same models a second time. The longest notebook is
# named first (pytest drops the second mention), so it does not start last and leave the other
# worker idle at the end.
# nbval also copies each solution's functions out of its kernel (course_utils.grading.grade_nbval), so
# grade-solutions runs the trusted checks without executing every solution a second time.
COLLECTED := build/collected
notebooks: data
	rm -rf $(COLLECTED)
	$(NB_ENV) $(DEFER) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider --nbval \
		--nbval-cell-timeout=600 --nbval-sanitize-with .nbval_sanitize.cfg $(LONGEST_FIRST) \
		-p course_utils.grading.grade_nbval --grade-collect $(COLLECTED) notebooks solutions
	$(NB_ENV) $(DEFER) $(BIN)/pytest -q -n $(JOBS) --dist loadfile -p no:cacheprovider \
		--nbval-cell-timeout=600 --nbval-lax exercises

# The committed exercise notebooks are what the generator writes (a regenerated, not yet
# committed one also passes); a learner's edits are not looked at.
exercises-check: setup
	$(BIN)/python -m course_utils.grading.exercises check --committed

grade-solutions: data
	$(NB_ENV) $(BIN)/python -m course_utils.grading.grade solutions -j $(JOBS) --collected $(COLLECTED)

# Your own exercises, graded as the course grades them: `make grade`, or `make grade NB=03`.
grade: data
	@set -- $(if $(NB),$(wildcard exercises/$(NB)*.ipynb),exercises); \
	if [ -z "$$1" ]; then echo "make grade: no exercises/$(NB)*.ipynb"; exit 2; fi; \
	$(NB_ENV) $(BIN)/python -m course_utils.grading.grade "$$@"; status=$$?; \
	if [ $$status -eq 1 ]; then echo "make grade: not everything passes yet (see above)"; fi; \
	[ $$status -le 1 ]

# Every stage runs in the shipped copy; `make test` passes on a learner's checkout too.
# STAGES (and UNIT, the unit tests) narrow it down, e.g. make test STAGES=lint.
STAGES ?= lint unit notebooks grade-solutions browser
test: setup data exercises-check
	@$(BIN)/python -m course_utils.grading.exercises shipped-copy $(SHIPPED)
	+@$(SHIPPED_MAKE) $(STAGES) CHROMIUM=$(CHROMIUM) UNIT="$(UNIT)"
	@echo "make test: $$($(BIN)/python -m course_utils.grading.exercises learner-note)"
	@echo "make test: all checks passed"

browser:
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory -f $(HERE)/Makefile test-browser; else \
		echo "make test: browser tests skipped: no Chromium found (Debian/Ubuntu: apt-get install chromium; then make test-browser)"; fi

# The stored outputs do not depend on the CPU's BLAS or PyTorch kernels (.ci/run, after make
# test). NB= limits it to some notebooks, e.g. make test-portability NB=notebooks/00_start_here.ipynb
test-portability: data
	@for spec in $(PORTABILITY); do IFS=: read -r blas aten onednn mkl <<< "$$spec"; \
	  if [ "$$blas" = SkylakeX ] && ! grep -qw avx512f /proc/cpuinfo 2>/dev/null; then \
	    echo "make test-portability: $$blas skipped (this CPU has no AVX-512)"; continue; fi; \
	  echo "make test-portability: OpenBLAS $$blas, ATen $$aten, oneDNN $$onednn, MKL $$mkl"; \
	  start=$$(date +%s); \
	  export OPENBLAS_CORETYPE=$$blas ATEN_CPU_CAPABILITY=$$aten ONEDNN_MAX_CPU_ISA=$$onednn \
	    MKL_ENABLE_INSTRUCTIONS=$$mkl; \
	  $(BIN)/python -c 'import numpy, threadpoolctl, torch; print("  kernels in use: OpenBLAS", \
	    [i.get("architecture") for i in threadpoolctl.threadpool_info() if \
	     i["internal_api"] == "openblas"], "/ ATen", torch.backends.cpu.get_cpu_capability())'; \
	  $(NB_ENV) $(DEFER) $(BIN)/pytest -q -n $(JOBS) \
	    --dist loadfile -p no:cacheprovider --nbval --nbval-cell-timeout=600 \
	    --nbval-sanitize-with .nbval_sanitize.cfg $(or $(NB),$(LONGEST_FIRST) notebooks solutions) || exit 1; \
	  echo "make test-portability: $$blas passed in $$(( $$(date +%s) - start )) s"; done

# The course as a learner meets it: JupyterLab in headless Chromium (tests/browser/).
# Screenshots go to build/browser/. The book's tests read the built book (tests/browser/test_book.py);
# without npm (needed once to fetch MathJax and the widget manager) and without a built book,
# they are skipped.
test-browser: setup $(if $(shell command -v npm)$(wildcard build/book/index.html),book)
	COURSE_BROWSER_TESTS=1 COURSE_CHROMIUM=$(CHROMIUM) $(NB_ENV) $(BIN)/pytest -q -p no:cacheprovider tests/browser

# ---- maintainer targets ----------------------------------------------------
build-exercises: setup
	$(BIN)/python -m course_utils.grading.exercises build

# Re-execute notebooks and solutions in place so their stored outputs are current.
# Same one-thread environment as the nbval targets, so stored and fresh outputs agree.
refresh-outputs: data
	$(NB_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 $(or $(NB),notebooks/*.ipynb solutions/*.ipynb)

bench: data
	$(BIN)/python -m course_utils.maintainer.bench

# ---- the course as a book ----------------------------------------------------
# A static, offline, searchable HTML book from the stored outputs (nothing is executed):
# build/book/index.html. Its packages (requirements-book.txt) go on top of the course's pins;
# MathJax and the widget manager come from the npm registry once, checked against the sha512
# pinned in book/assets.py, and are served from the book's own files. Warnings are errors.
BOOK_STAMP := $(VENV)/.book-installed
book: $(BOOK_STAMP)
	@TIMEFORMAT='make book: sphinx-build took %R s'; time \
		$(BIN)/sphinx-build -b html -c book -d build/book-doctrees -W --keep-going -q . build/book
	@echo "make book: done; open build/book/index.html"

$(BOOK_STAMP): $(STAMP) $(HERE)/requirements-book.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r $(HERE)/requirements-book.txt -c $(HERE)/requirements.txt
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache course_utils.egg-info
