# btvmm: the first two targets are all a fresh machine needs (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast corpus lint reference clean

# the default guest exits through port 0xf4 with 0: bt's status is (0<<1)|1 = 1, as QEMU's
run: $(STAMP) corpus
	@$(BIN)/bt run; status=$$?; [ $$status -eq 1 ] || { echo "bt run: status $$status"; exit $$status; }

test: $(STAMP) corpus
	$(BIN)/pytest -q

test-fast: $(STAMP) corpus
	$(BIN)/pytest -q -m "not slow"

$(STAMP): pyproject.toml setup.py runtime/pc/_hooks.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

corpus:
	$(MAKE) -s -C corpus

lint: $(STAMP)
	$(BIN)/ruff check bt runtime tests bench

# Cross-check the committed expected outputs against qemu-system-i386.
reference: corpus
	$(PYTHON) corpus/reference.py --check

clean:
	$(MAKE) -s -C corpus clean
	rm -rf $(VENV) build *.egg-info runtime/pc/_hooks*.so
