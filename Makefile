# Switchboard — the two commands: `make run` and `make test`.
# Workers and threads are in gunicorn.conf.py; `make run WORKERS=4 THREADS=24` overrides them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BIND   ?= 127.0.0.1:8000
export FLASK_APP := wsgi

.PHONY: run test lint bench install install-test browser clean

# The venv is rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

install-test: $(BIN)/.installed-test

run: install
	$(BIN)/flask init
	exec $(BIN)/gunicorn $(if $(WORKERS),--workers $(WORKERS)) $(if $(THREADS),--threads $(THREADS)) \
	  --bind $(BIND) --no-control-socket --access-logfile - wsgi:app

# Browser tests use Debian's chromium; install it when missing and we may.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: apt-get install chromium (browser tests will be skipped)"; fi; \
	fi

lint: install-test
	$(BIN)/ruff check .

test: lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache
