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
export NO_MKDOCS_2_WARNING := 1

.PHONY: install browser midi-tools demo demo-app test notebooks docs docs-serve lint bench clean

install: $(STAMP) browser

$(STAMP): pyproject.toml constraints-cpu.txt tools/fix_cpu_torch_wheels.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[all]"
	$(PY) tools/fix_cpu_torch_wheels.py
	$(PY) -m pip check
	touch $(STAMP)

# Headless Chromium and its driver for the demo's browser test (Debian packages; idempotent). Only
# root can apt-get; elsewhere the browser test is skipped with this reason (and fails under CI=true).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium + chromium-driver (apt) for the demo's browser test"; \
		apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
		|| echo "note: apt-get could not install chromium; the demo's browser test will be skipped"; \
	else \
		echo "note: chromium/chromedriver missing and not root: the demo's browser test will be skipped" \
			"(install them: sudo apt-get install chromium chromium-driver)"; \
	fi

# fluidsynth and a General MIDI soundfont, for the test of the corpus's MIDI renderer (Debian
# packages, about 140 MB; idempotent; `make test` only). Without root that test is skipped.
midi-tools:
	@if command -v fluidsynth >/dev/null && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing fluidsynth + fluid-soundfont-gm (apt) for the MIDI renderer test"; \
		apt-get install -y -q fluidsynth fluid-soundfont-gm >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q fluidsynth fluid-soundfont-gm >/dev/null; } \
		|| echo "note: apt-get could not install fluidsynth; the MIDI renderer test will be skipped"; \
	else \
		echo "note: fluidsynth/fluid-soundfont-gm missing and not root: the MIDI renderer test will be" \
			"skipped (install them: sudo apt-get install fluidsynth fluid-soundfont-gm)"; \
	fi

# The main job: separate the bundled example mixture with the embedded default model
# (codecsep_mm/defaults.py: `starter-16k`; DEMO_MODEL=NAME overrides)
# and write the stems to demo-output/. `make demo-app` starts the web demo on 127.0.0.1:7860.
DEMO_MODEL ?=
demo: install
	$(VENV)/bin/codecsep-mm separate codecsep_mm/data/example_mixture.flac $(if $(DEMO_MODEL),--model $(DEMO_MODEL)) \
		--text "music" --text "a knocking sound" --residual -o demo-output
	@echo "stems in demo-output/; for the web demo: make demo-app (or .venv/bin/codecsep-mm demo)"

demo-app: install
	$(VENV)/bin/codecsep-mm demo $(if $(DEMO_MODEL),--model $(DEMO_MODEL))

# Lint, the test suite (the demo's gradio_client and browser tests included), the tutorial notebooks
# in smoke mode (short audio, few steps), and the docs site built strictly.
test: install midi-tools
	$(VENV)/bin/ruff check codecsep_mm tests benchmarks demos tools
	$(VENV)/bin/mypy codecsep_mm
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory notebooks docs

notebooks: install
	CODECSEP_MM_SMOKE=1 $(PY) -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=300 notebooks

docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir site  # not --quiet: it hides the warnings --strict counts

docs-serve: install
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

lint: install
	$(VENV)/bin/ruff check codecsep_mm tests benchmarks demos tools
	$(VENV)/bin/mypy codecsep_mm

bench: install
	$(PY) benchmarks/speed_memory.py

clean:
	rm -rf $(VENV) demo-output site .pytest_cache
