# Two commands do all set-up on a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench install

$(BIN)/coopchain: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# An editable install leaves our modules uncompiled; compiled once here, every `coopchain` start
	# skips compiling them (also where PYTHONDONTWRITEBYTECODE is set, as on our CI).
	$(BIN)/python -m compileall -q app models chain contracts service
	touch $@

install: $(BIN)/coopchain

# The demo writes its files (the sample problem, a solution, a front, the ledger, an audit
# bundle) into ./demo, which git ignores; its keys go to the per-user data folder (README).
demo: install
	mkdir -p demo
	cd demo && ../$(BIN)/coopchain demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/bench_solve.py
