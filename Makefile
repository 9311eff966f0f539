# Two commands do all set-up (see README):
#   make repro   create .venv, install pinned dependencies, run `dvc repro` on the embedded default collection
#   make test    create .venv, install pinned dependencies, run the test suite
# Both are idempotent: the environment is rebuilt only when requirements/lock.txt or pyproject.toml change.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.irprune-installed
TORCH_VERSION := 2.13.0
# CPU wheels of torch (no CUDA packages) for machines without an NVIDIA GPU.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=

# Keep every cache inside the project and nothing on the network by default.
# Set OFFLINE=0 to let Hugging Face / ir_datasets download (for real MS MARCO runs).
OFFLINE ?= 1
export HF_HOME := $(CURDIR)/.cache/huggingface
export IR_DATASETS_HOME := $(CURDIR)/.cache/ir_datasets
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export DVC_NO_ANALYTICS := 1
export PYTHONHASHSEED := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
ifeq ($(OFFLINE),1)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
endif

.PHONY: setup weights engines latex repro test test-fast bench lab paper clean-env

# The default pretrained checkpoint (all-MiniLM-L6-v2): fetched once into .cache/models/ and sha256-verified,
# so every later stage runs offline (lib/irprune/weights.py; `python -m irprune.weights list`).
WEIGHTS := .cache/models/minilm-l6/model.safetensors

setup: $(STAMP) $(WEIGHTS) engines

weights: $(WEIGHTS)

$(WEIGHTS): | $(STAMP)
	$(BIN)/python -m irprune.weights fetch minilm-l6

$(STAMP): requirements/lock.txt requirements/constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (Debian/Ubuntu: apt-get install python3 python3-venv)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV); on Debian/Ubuntu run: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	@if $(BIN)/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$(TORCH_VERSION)' else 1)" 2>/dev/null; then \
		echo "torch $(TORCH_VERSION) already installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing the CUDA build of torch $(TORCH_VERSION)"; \
		$(BIN)/python -m pip install -q torch==$(TORCH_VERSION); \
	else \
		echo "no GPU: installing the CPU build of torch $(TORCH_VERSION)"; \
		$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)+cpu 2>/dev/null || \
		$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)+cpu --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple; \
	fi
	$(BIN)/python -m pip install -q -r requirements/lock.txt -c requirements/constraints.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m irprune.setup_env
	@touch $@

# DeepSparse (optional sparse CPU engine; x86-64 Linux, Python 3.11 only) in an environment of its own: its last
# wheel, 1.8.0, pins numpy<2. Evaluation-only licence, end-of-life June 2025 (docs/methods.md). A platform
# without a wheel gets a warning; the engine is then reported "not installed" in every cell.
DS_VENV := .venv-deepsparse
engines:
	@if test -x $(DS_VENV)/bin/python && $(DS_VENV)/bin/python -c "import deepsparse" 2>/dev/null; then \
		echo "DeepSparse present in $(DS_VENV)"; \
	elif [ "$$(uname -sm)" = "Linux x86_64" ] && command -v python3.11 >/dev/null; then \
		echo "installing DeepSparse 1.8.0 into $(DS_VENV)"; \
		{ python3.11 -m venv $(DS_VENV) && NM_DISABLE_ANALYTICS=1 $(DS_VENV)/bin/pip install -q deepsparse==1.8.0; } \
			|| echo "warning: DeepSparse did not install; its latency columns will say 'not installed'"; \
	else \
		echo "DeepSparse skipped: it needs x86-64 Linux and python3.11"; \
	fi

# The TeX toolchain for the paper stage (Debian/Ubuntu, without recommends; about 2 minutes, once).
# Elsewhere install latexmk and a TeX distribution with booktabs, siunitx, natbib, adjustbox and lmodern
# (macOS: brew install --cask mactex-no-gui; conda: see environment.yml).
LATEX_PACKAGES := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-science lmodern poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
latex:
	@if command -v latexmk >/dev/null && command -v pdflatex >/dev/null && command -v pdftotext >/dev/null; then \
		echo "LaTeX toolchain present"; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then \
		echo "installing the LaTeX toolchain: $(LATEX_PACKAGES)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(LATEX_PACKAGES) >/dev/null; \
	else \
		echo "warning: latexmk/pdflatex not found and apt-get unavailable: install latexmk and a TeX distribution"; \
		echo "         ($(LATEX_PACKAGES) on Debian/Ubuntu); the paper stage needs them"; \
	fi

repro: setup latex
	$(BIN)/dvc repro
	$(BIN)/python -m irprune.summary

test: setup latex
	$(BIN)/python -m pytest $(PYTEST_ARGS)

paper: setup latex
	$(BIN)/dvc repro paper

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py

# Notebooks opened here run in notebooks/ and find the project root themselves (irprune.paths.enter_project_root).
# Jupyter refuses to run as root without --allow-root (containers often run as root).
lab: setup
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

clean-env:
	rm -rf $(VENV)
