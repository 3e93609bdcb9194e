# Zenith: two commands on a fresh machine, `make run` and `make test`; both install first when needed.
PYTHON ?= python3
# torch comes from the CPU wheel these machines keep on disk; a GPU user can pre-install a CUDA torch
# into .venv (or set TORCH=...) and it is kept, because the install skips torch when it imports.
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean

install: $(STAMP)

# Reinstall only when the project's metadata changes: a second `make install` is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c 'import torch' 2>/dev/null || $(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/hil mission

# The console's browser tests drive the system's Chromium (Debian's package); Playwright's own
# browser download is never used.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: install $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n 2 --dist loadfile

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check flight ground hil tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
