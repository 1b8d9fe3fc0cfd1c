# ml-platform developer entry points. `make setup` is implied by every other target.
SHELL := /bin/bash
# uv from PATH, or the one pip installs as a module when PATH has none.
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
STACKS := $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml))
REPORTS ?= reports

.PHONY: setup demo test lint bench

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

## demo: preview, check and price every stack offline, run the pipeline locally; each step's
## output goes to $(REPORTS)/logs/, the terminal gets one line per step and a summary table, and
## $(REPORTS)/index.html links every file the steps wrote.
DEMO = $(UV) run --frozen python -m mlp.demo --reports $(REPORTS)

demo: setup
	@$(DEMO) start
	@for s in $(STACKS); do \
	  $(DEMO) step "preview $$s" -- preview $$s --quiet --json $(REPORTS)/preview-$$s.json \
	    || exit 1; \
	done
	@for s in $(STACKS); do \
	  $(DEMO) step "preflight $$s" -- preflight $$s --json $(REPORTS)/preflight-$$s.json \
	    || exit 1; \
	done
	@$(DEMO) step "cost compare" -- cost compare --out $(REPORTS)/cost
	@$(DEMO) step "cost compare study-2024" -- cost compare --scenario study-2024 \
	  --out $(REPORTS)/cost-study
	@for s in $(STACKS); do \
	  $(DEMO) step "cost stack $$s" -- cost stack --preview $(REPORTS)/preview-$$s.json \
	    --json $(REPORTS)/cost/plan-$$s.json --text $(REPORTS)/cost/plan-$$s.txt || exit 1; \
	done
	@for s in $(STACKS); do \
	  $(DEMO) step "policy check $$s" -- policy check $$s \
	    --json $(REPORTS)/policy-$$s.json --sarif $(REPORTS)/policy-$$s.sarif || exit 1; \
	done
	@$(DEMO) step "pipeline run --local" -- pipeline run --local --out $(REPORTS)/pipeline
	@$(DEMO) summary

test: setup
	$(UV) run --frozen pytest -n 2

lint: setup
	$(UV) run --frozen ruff check .

bench: setup
	$(UV) run --frozen python -m infra.bench
	$(UV) run --frozen python -m workloads.cifar10.bench
	$(UV) run --frozen python -m workloads.image_sizes
