# Two commands do everything on a fresh machine:
#   make demo   set up and serve the app on $(DATA); the first time, a quick model is trained
#               and served within minutes while the full one trains in the background
#               (train/first_run.py) and replaces it in the page by itself
#   make test   set up, lint (ruff), and run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/data/epicurious
MODEL  ?= artifacts/model
INDEX  ?= artifacts/index
FIRST  ?= artifacts/quick
QUICK  ?=
WORK   ?=
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test demo stop screenshot train index app bench clean

setup: $(VENV)/.installed

# Reinstall only when a requirements file or the package's description changed. The
# project itself goes in editable (pyproject.toml): its packages import from anywhere and
# the recipe-* commands exist; --no-deps, since the pinned requirements are installed above.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash tests/setup_browser.sh
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

demo: setup
	$(BIN)/python -m train.first_run --data $(DATA) --model $(MODEL) --index $(INDEX) --quick $(FIRST)
	$(BIN)/python app.py --index $(INDEX) --until-ready $(FIRST)/index --progress $(FIRST)/full-run.json

# Stop a first run's background training (its whole process group); `make demo` resumes it.
stop:
	@if [ -f $(FIRST)/full-run.pid ] && kill -TERM -$$(cat $(FIRST)/full-run.pid) 2>/dev/null; \
	then echo "stopped the background run"; else echo "no background run"; fi

# docs/search.png, the README's picture: a real search of $(INDEX) in a browser.
screenshot: setup $(INDEX)/manifest.json
	bash tests/setup_browser.sh
	SCREENSHOT_INDEX=$(INDEX) HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/test_browser.py -k readme_screenshot

train: $(MODEL)/model.safetensors
index: $(INDEX)/manifest.json

$(MODEL)/model.safetensors:
	$(BIN)/python -m train --data $(DATA) --out $(MODEL)

$(INDEX)/manifest.json: $(MODEL)/model.safetensors
	$(BIN)/python -m embeddings build --model $(MODEL) --data $(DATA) --out $(INDEX)

app: setup
	$(BIN)/python app.py --index $(INDEX)

# QUICK=1: smoke runs on a slice of the sample with a model it trains itself (no full model needed).
bench: setup $(if $(QUICK),,$(INDEX)/manifest.json)
	$(BIN)/python -m benchmarks.run --data $(DATA) $(if $(QUICK),--quick,--model $(MODEL) --index $(INDEX)) $(if $(WORK),--work $(WORK),)

clean:
	rm -rf artifacts
