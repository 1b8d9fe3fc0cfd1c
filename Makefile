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

## demo: preview every stack offline and write each preview JSON under $(REPORTS)/
demo: setup
	@mkdir -p $(REPORTS)
	@for s in $(STACKS); do \
	  echo "=== mlp preview $$s"; \
	  $(UV) run --frozen mlp preview $$s --json $(REPORTS)/preview-$$s.json || exit 1; \
	done
	@for s in $(STACKS); do \
	  echo "=== mlp preflight $$s"; \
	  $(UV) run --frozen mlp preflight $$s --json $(REPORTS)/preflight-$$s.json || exit 1; \
	done
	@echo "=== mlp cost compare (the study's scenario)"
	@$(UV) run --frozen mlp cost compare --out $(REPORTS)/cost
	@for s in $(STACKS); do \
	  echo "=== mlp cost stack $$s"; \
	  $(UV) run --frozen mlp cost stack --preview $(REPORTS)/preview-$$s.json \
	    --json $(REPORTS)/cost/plan-$$s.json --text $(REPORTS)/cost/plan-$$s.txt || exit 1; \
	done
	@for s in $(STACKS); do \
	  echo "=== mlp policy check $$s"; \
	  $(UV) run --frozen mlp policy check $$s \
	    --json $(REPORTS)/policy-$$s.json --sarif $(REPORTS)/policy-$$s.sarif || exit 1; \
	done
	@echo "=== mlp pipeline run --local (kfp.local, synthetic data)"
	@$(UV) run --frozen mlp pipeline run --local --out $(REPORTS)/pipeline

test: setup
	$(UV) run --frozen pytest -n 2

lint: setup
	$(UV) run --frozen ruff check .

bench: setup
	$(UV) run --frozen python -m infra.bench
	$(UV) run --frozen python -m workloads.cifar10.bench
