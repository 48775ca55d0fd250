# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap their own environment.
.PHONY: bootstrap demo test lint bench clean

VENV := .venv
PY := $(VENV)/bin/python

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	$(PY) -m consumer demo --config config/example.yaml

test: bootstrap
	$(VENV)/bin/ruff check consumer tests bench
	$(VENV)/bin/ruff format --check consumer tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q
	@echo "property and differential tests on the pure-Python build (CONSUMER_CORE_PURE=1):"
	CONSUMER_CORE_PURE=1 $(PY) -m pytest -q -m property

lint: bootstrap
	$(VENV)/bin/ruff check consumer tests bench
	$(VENV)/bin/ruff format --check consumer tests bench
	$(VENV)/bin/mypy

bench: bootstrap
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build
	rm -f consumer/core__mypyc.*.so consumer/core/*.so consumer/core/compiled.sha256
