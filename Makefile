# The two commands of the README: `make demo` runs everything locally, `make test` runs the tests.
# Both install what they need first (scripts/bootstrap), so they work on a fresh machine.

VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit integration bench install clean

install:
	@scripts/bootstrap

demo: install
	$(BIN)/watchflow demo $(ARGS)

test: install lint
	scripts/test-deps
	$(BIN)/python -m streams.native status
	$(BIN)/python -m pytest -q tests $(ARGS)
	# The model as pure Python too (what runs where it cannot be compiled).
	WATCHFLOW_PURE_MODEL=1 $(BIN)/python -m pytest -q tests/unit/streams/model

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q tests/unit $(ARGS)

integration: install
	scripts/test-deps
	$(BIN)/python -m pytest -q tests/integration $(ARGS)

bench: install
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .watchflow .mypy_cache .ruff_cache .pytest_cache
