# The book's two commands (see README):
#   make book   — set up, get the data, execute every chapter from scratch in place, build the HTML
#   make test   — set up, get the data, unit tests, nbval over every chapter, a -W build of the book
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))
SOURCES   := $(NOTEBOOKS:.ipynb=.md)

# No progress bars in stored outputs or under nbval; fixed hash seed.
export AEVAE_PROGRESS := 0
export PYTHONHASHSEED := 0

.PHONY: book test env data sync execute html unit nbval browser bench lock clean

book: execute html

test: unit nbval browser   # browser depends on html (the -W build)

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: env
	$(BIN)/python -m aevae.data

# The text sources chapters/NN_slug.md are the truth for the cells: bring each notebook's inputs up to
# date with its source (outputs are kept until the notebook is executed again).
sync: env
	$(BIN)/jupytext --sync $(SOURCES)

# From scratch: the model cache is emptied first, so every model is trained again (and the recorded
# times are honest); within the run a model that two chapters use is trained once.
execute: env data sync
	rm -rf _build/model-cache
	$(BIN)/python tools/execute.py $(NOTEBOOKS)

html: env
	rm -rf _build/html
	$(BIN)/jupyter-book build . -W --keep-going

unit: env data
	$(BIN)/python -m pytest tests -m "not browser"

nbval: env data
	AEVAE_RESULTS=check $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider $(NOTEBOOKS)

# Headless system Chromium against the built pages of _toc.yml (localhost only); screenshots and a
# report in artifacts/. $AEVAE_CHROMIUM names another Chromium/Chrome binary.
browser: env html
	$(BIN)/python -m pytest tests -m browser -v -p no:cacheprovider

# Training throughput (module loop vs a DataLoader loop) and every notebook's time and peak memory;
# updates results/benchmarks.json and the README's tables. E.g. make bench BENCH_ARGS="--only throughput"
bench: env data
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lock: env
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/' > requirements.txt

clean:
	rm -rf _build artifacts .pytest_cache
