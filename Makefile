# The two commands of the README, and what they need. Every target is safe to run again.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Go and govmomi build vcsim; git (http-backend) and openssh-server serve real remotes in tests.
DEBS := golang-go golang-github-vmware-govmomi-dev git openssh-server
# pytest workers: the suite is I/O-bound on local servers, so two per core pays.
WORKERS ?= 4

.PHONY: help demo test bench lint typecheck imports hadolint unit schemas debs venv clean

help:
	@echo "make demo   run the whole engine against the local simulators"
	@echo "make test   formatting, lint, types, import contracts, Containerfile lint, the suite"
	@echo "make bench  the benchmarks of BENCHMARKS.md, one table"

# Debian packages the suite and the demo need (see DEBS).
debs: .debs.stamp
.debs.stamp: Makefile
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@touch $@

venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip>=24'
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

hadolint: venv
	$(BIN)/hadolint Containerfile

unit: venv debs
	$(BIN)/pytest -n $(WORKERS) -p no:cacheprovider

test: lint typecheck imports hadolint unit

schemas: venv
	$(BIN)/python -m planner.schemas --write schemas

demo: venv debs
	$(BIN)/rxt demo

bench: venv debs
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .debs.stamp .mypy_cache .ruff_cache .pytest_cache
