# mmskysense: one entry point. Every target installs what it needs first (tools/install.sh is
# idempotent: seconds when .venv is ready).
SHELL := /bin/bash
PY := .venv/bin/python
# extra pytest arguments, e.g. make test PYTEST_ARGS="-k backbone -x"
PYTEST_ARGS ?=

.PHONY: install lint format test test-fast test-matrix demo bench docs clean help

help:
	@echo "make install    build .venv (torch, mmcv with ops, OpenMMLab set, rasterio, mmskysense)"
	@echo "make lint       ruff check + ruff format --check (ruff.toml); part of make test"
	@echo "make format     apply ruff's fixes and formatting"
	@echo "make test       install, lint, then run the test suite"
	@echo "make test-fast  install, then run the tests not marked slow"
	@echo "make test-matrix  the suite with 1 and 2 threads x ATEN_CPU_CAPABILITY default and avx2"
	@echo "                 (MATRIX_TESTS=tests/test_apis for a part of it)"
	@echo "make demo       install, then run the end-to-end demo (see README)"
	@echo "make bench      install, then run the benchmarks in benchmarks/"
	@echo "make docs       install, then build the documentation site into site/ (mkdocs --strict)"
	@echo "make clean      remove build artefacts (keeps .venv and the mmcv wheel cache)"

install:
	@start=$$(date +%s); bash tools/install.sh; \
	echo "install: $$(( $$(date +%s) - start )) s"

lint: install
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: install
	@$(PY) -m ruff check --fix . && $(PY) -m ruff format .

# pytest's closing line gives the test time; it stays the last line of the output
test: install lint
	@rc=0; \
	$(PY) -m pytest tests -q -rfEs --durations=15 $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): the suite is missing or every test was deselected" >&2; exit 1; fi; \
	exit $$rc

test-fast: PYTEST_ARGS += -m "not slow"
test-fast: test

# The suite once per thread count and per set of torch CPU kernels: a test that passes by
# rounding on one machine fails under one of them. Logs: work_dirs/test-matrix/.
# MATRIX_TESTS: what each run covers (default the whole suite), e.g. MATRIX_TESTS=tests/test_apis
MATRIX_THREADS ?= 1 2
MATRIX_ISA ?= default avx2
MATRIX_TESTS ?= tests
test-matrix: install lint
	@mkdir -p work_dirs/test-matrix; runs=0; failed=""; \
	for t in $(MATRIX_THREADS); do for isa in $(MATRIX_ISA); do \
		log=work_dirs/test-matrix/threads$$t-$$isa.log; runs=$$((runs + 1)); \
		echo "== OMP_NUM_THREADS=$$t ATEN_CPU_CAPABILITY=$$isa (log: $$log)"; \
		OMP_NUM_THREADS=$$t MKL_NUM_THREADS=$$t ATEN_CPU_CAPABILITY=$$isa \
			$(PY) -m pytest $(MATRIX_TESTS) -q -rfE $(PYTEST_ARGS) > $$log 2>&1; rc=$$?; \
		grep -E "^(FAILED|ERROR)" $$log || true; tail -n 1 $$log; \
		[ $$rc -eq 0 ] || failed="$$failed threads$$t-$$isa"; \
	done; done; \
	if [ -n "$$failed" ]; then echo "test-matrix: failed in$$failed (of $$runs runs)"; exit 1; fi; \
	echo "test-matrix: all $$runs runs passed"

demo: install
	@start=$$(date +%s); $(PY) tools/demo.py $(DEMO_ARGS); rc=$$?; \
	echo "demo: $$(( $$(date +%s) - start )) s"; exit $$rc

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# offline: theme.font is off and no plugin fetches anything (mkdocs.yml)
docs: install
	@NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf build dist *.egg-info work_dirs demo_outputs site
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
