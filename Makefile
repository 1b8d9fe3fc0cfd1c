# ml-platform developer entry points. `make setup` is implied by every other target.
SHELL := /bin/bash
# uv from PATH, or the one pip installs as a module when PATH has none.
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
REPORTS ?= reports

.PHONY: setup demo test lint bench bench-gpu

setup: .venv/.synced

# --compile-bytecode: without it every process compiles the imported sources again wherever
# Python may not write its caches (PYTHONDONTWRITEBYTECODE, a read-only environment), which is
# several seconds per `mlp` command for the Pulumi SDKs alone (infra/benchmarks/toolchain.yaml).
.venv/.synced: pyproject.toml uv.lock Makefile
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

## demo: preview, check and price every stack offline, run the pipeline locally; each step's
## output goes to $(REPORTS)/logs/, the terminal gets one line per step and a summary table, and
## $(REPORTS)/index.html links every file the steps wrote. Each step covers every stack in one
## process ({stack} in a path becomes each stack's name). PIPELINE=0 leaves the pipeline out.
DEMO = $(UV) run --frozen python -m mlp.demo --reports $(REPORTS)
PIPELINE ?= 1

demo: setup
	@$(DEMO) start
	@$(DEMO) step "preview" -- preview --all --quiet --json '$(REPORTS)/preview-{stack}.json'
	@$(DEMO) step "preflight" -- preflight --all --json '$(REPORTS)/preflight-{stack}.json'
	@$(DEMO) step "cost compare" -- cost compare --out $(REPORTS)/cost
	@$(DEMO) step "cost compare study-2024" -- cost compare --scenario study-2024 \
	  --out $(REPORTS)/cost-study
	@$(DEMO) step "cost stack" -- cost stack --all --preview '$(REPORTS)/preview-{stack}.json' \
	  --json '$(REPORTS)/cost/plan-{stack}.json' --text '$(REPORTS)/cost/plan-{stack}.txt'
	@$(DEMO) step "policy check" -- policy check --all \
	  --json '$(REPORTS)/policy-{stack}.json' --sarif '$(REPORTS)/policy-{stack}.sarif'
	@if [ "$(PIPELINE)" != 0 ]; then \
	  $(DEMO) step "pipeline run --local" -- pipeline run --local --out $(REPORTS)/pipeline; fi
	@$(DEMO) summary

test: setup
	$(UV) run --frozen pytest -n 2

lint: setup
	$(UV) run --frozen ruff check .

bench: setup
	$(UV) run --frozen python -m infra.bench
	$(UV) run --frozen python -m infra.bench --table README.md
	$(UV) run --frozen python -m workloads.cifar10.bench
	$(UV) run --frozen python -m workloads.image_sizes
	$(UV) run --frozen python -m workloads.cifar10.bench_report --write workloads/README.md

## bench-gpu: the GPU benchmark (one NVIDIA GPU, under 8 minutes), writing
## workloads/cifar10/benchmarks/results-gpu.yaml. It runs in .venv-gpu, the locked `bench-gpu`
## group: the trainer's CUDA build and the predictor's server. `--smoke` of the same entry point
## runs in the tests, on a CPU.
bench-gpu: .venv-gpu/.synced
	.venv-gpu/bin/python -m workloads.cifar10.bench_gpu

.venv-gpu/.synced: pyproject.toml uv.lock Makefile
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	UV_PROJECT_ENVIRONMENT=.venv-gpu $(UV) sync --frozen --no-default-groups --group bench-gpu \
	  --compile-bytecode
	@touch $@
