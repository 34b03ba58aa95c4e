# incident-bot: `make run` starts the bot, `make test` runs every check.
# GNU make. Recipes are indented with tabs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; the install re-runs only when pyproject.toml changes.
INSTALL_STAMP := $(VENV)/.stamp-install
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS='-k console -x'`.
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help install run test lint clean synapse test-tools

help:
	@echo "make run    install into $(VENV), upgrade the database, start the bot (console without credentials)"
	@echo "make test   install into $(VENV), then ruff, mypy and pytest (PYTEST_ARGS='...' for pytest)"
	@echo "           (the Matrix tests also install Synapse into $(VENV_SYNAPSE))"
	@echo "make lint   ruff and mypy only"
	@echo "make clean  remove $(VENV), caches and *.db files"

# --- the project's virtual environment -------------------------------------------------

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' not found; incident-bot needs Python 3.11 or newer to create $(VENV)." >&2; \
	  echo "       Install one, or point make at one: make PYTHON=python3.12 ..." >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	  echo "error: incident-bot needs Python 3.11 or newer to create $(VENV);" \
	       "'$(PYTHON)' is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')." >&2; \
	  echo "       Install a newer one, or point make at one: make PYTHON=python3.12 ..." >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	@touch $@

install: $(INSTALL_STAMP)

# --- Matrix test server -----------------------------------------------------------------
# The Matrix adapter tests run against a real Synapse homeserver installed in its own
# virtual environment, $(VENV_SYNAPSE), never in the project's dependencies (it is a test
# peer, not a library we ship, and its pins must not constrain ours). The tests find its
# python through INCIDENT_BOT_SYNAPSE_PYTHON.
VENV_SYNAPSE := .venv-synapse
SYNAPSE_STAMP := $(VENV_SYNAPSE)/.stamp-install
SYNAPSE_PYTHON := $(abspath $(VENV_SYNAPSE))/bin/python

$(SYNAPSE_STAMP):
	$(PYTHON) -m venv $(VENV_SYNAPSE)
	$(VENV_SYNAPSE)/bin/pip install matrix-synapse
	@touch $@

synapse: $(SYNAPSE_STAMP)

# --- programs the tests drive ---------------------------------------------------------------
# Real consumers of what the bot makes: Jekyll builds the blog post, LibreOffice opens every
# Word draft (soffice), pdftoppm turns its pages into pictures, Chromium loads the web pages
# (driven by Playwright, never a downloaded browser), Prometheus scrapes /metrics. Each is COMMAND:DEBIAN-PACKAGE;
# missing ones are installed with apt when make runs as root (as in CI); otherwise the
# tests that need them are skipped, saying which package to install.
TEST_TOOLS := jekyll:jekyll soffice:libreoffice-writer-nogui pdftoppm:poppler-utils \
  chromium:chromium prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager

test-tools:
	@missing=""; \
	for tool in $(TEST_TOOLS); do \
	  command -v $${tool%%:*} >/dev/null 2>&1 || missing="$$missing $${tool#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing$$missing (apt)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "note:$$missing not installed and make is not root: the tests that need them" \
	       "are skipped (apt-get install --no-install-recommends$$missing)" >&2; \
	fi

# --- targets ----------------------------------------------------------------------------

run: $(INSTALL_STAMP)
	$(BIN)/incident-bot db upgrade
	$(BIN)/incident-bot run

lint: $(INSTALL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint $(SYNAPSE_STAMP) test-tools
	INCIDENT_BOT_SYNAPSE_PYTHON=$(SYNAPSE_PYTHON) $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VENV_SYNAPSE) .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	  build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f *.db *.db-wal *.db-shm
