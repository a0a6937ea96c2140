# Two commands for a fresh clone: `make demo` and `make test`. Both create .venv and install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.codecsep-installed
# Offline-safe settings for everything that imports laion_clap, transformers or gradio.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt tools/fix_cpu_torch_wheels.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[all]"
	$(PY) tools/fix_cpu_torch_wheels.py
	$(PY) -m pip check
	touch $(STAMP)

# The main job: separate the bundled example mixture with the embedded default model (`tiny` until
# the trained starter model lands) and write the stems to demo-output/.
DEMO_MODEL ?= tiny
demo: install
	$(VENV)/bin/codecsep-mm separate codecsep_mm/data/example_mixture.flac --model $(DEMO_MODEL) \
		--text "music" --text "a knocking sound" --residual -o demo-output

test: install
	$(VENV)/bin/ruff check codecsep_mm tests benchmarks demos tools
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check codecsep_mm tests benchmarks demos tools

bench: install
	$(PY) benchmarks/speed_memory.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
