# cryptotracker: `make run` starts everything on a fresh clone, `make test` runs every test.
# The work is done by the scripts in bin/; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Extra pytest arguments, e.g. make test ARGS='-m "not integration"'
ARGS ?=

.PHONY: help setup run test test-quick lint format

help:
	@echo "make run         set up, then run dynalite, the web server and the task cluster (Ctrl-C stops)"
	@echo "make test        set up, then run every test (make test ARGS='-k repository')"
	@echo "make test-quick  the tests that need no server or browser: pytest -m 'not integration and not browser'"
	@echo "make setup       create .venv, install Python and Node packages, create .env (idempotent)"
	@echo "make lint        ruff check and ruff format --check"
	@echo "make format      ruff format and ruff check --fix"

setup:
	@bin/setup

run: setup
	@bin/run

test:
	@bin/test $(ARGS)

test-quick: setup
	@.venv/bin/python -m pytest -m "not integration and not browser" $(ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
