# Entry points: `make demo`, `make test` and `make docs`. Each creates .venv, installs
# torch==2.13.0 and then the project with its dev, ray and docs extras (.[dev,ray,docs]).
# `make figure` redraws docs/img/recovery.png, the README's figure.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean install docs figure

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[dev,ray,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/relulab demo --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "site built: open site/index.html"

# the README's figure: recovery rate per teacher node, demo preset (about 3 min on 2 cores)
figure: $(STAMP)
	$(BIN)/relulab sweep demo --out runs/figure --grid m=10,20 --grid multi=1,5 --grid p=0,1,2 \
		--seeds 16 --no-progress
	$(BIN)/relulab plot runs/figure
	cp runs/figure/figures/recovery_layer1.png docs/img/recovery.png

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs site .pytest_cache
