# Every target sets itself up: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest bench docs docs-serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m coreclaw_async demo

lint: $(STAMP)
	$(BIN)/ruff check coreclaw_async coreclaw_async_cli tests benchmarks examples
	$(BIN)/ruff format --check coreclaw_async coreclaw_async_cli tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict coreclaw_async coreclaw_async_cli

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

# pytest builds the documentation site too (tests/docs: a strict build, every example run).
test: lint typecheck pytest

# The documentation site into site/: strict, so a broken link, an unknown reference or a
# docstring warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	@echo "site/ built: open site/index.html, or 'make docs-serve' for search too"

# The built site on http://127.0.0.1:8000/ (search needs it served, not opened from disk).
docs-serve: docs
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory site 8000

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
