# btvmm: the first two targets are all a fresh machine needs (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast libunicorn corpus linux busybox bash-static lint reference bench clean mutation

# btos (corpus/os) under the monitor, on its IDE disk: on a terminal its shell, interactive
# (Ctrl-A x quits: status 20; `poweroff` in the shell: status 1); with stdin not a terminal
# its built-in autorun session, which ends with poweroff (status (0<<1)|1 = 1), so it never hangs
OS_RUN := $(BIN)/bt run --disk corpus/build/os-disk.img
run: $(STAMP) libunicorn corpus linux
	@if [ -t 0 ]; then $(OS_RUN) corpus/build/os.elf; else $(OS_RUN) --cmdline autorun corpus/build/os.elf; fi; \
	status=$$?; [ $$status -eq 1 ] || [ $$status -eq 20 ] || { echo "bt run: status $$status"; exit $$status; }

test: $(STAMP) libunicorn corpus linux
	$(BIN)/pytest -q

test-fast: $(STAMP) libunicorn corpus linux
	$(BIN)/pytest -q -m "not slow"

# a sampled mutation campaign over bt/ and the monitor's core (tests/mutation.py): the score
# per module and the survivors; ~20 minutes on 2 cores. Not part of make test.
MUTANTS ?= 200
mutation: $(STAMP) corpus linux
	nice $(BIN)/python tests/mutation.py --mutants $(MUTANTS) --seed 18 --workers 2

$(STAMP): pyproject.toml setup.py runtime/pc/_hooks.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# unicorn 2.1.4 with the store fix (runtime/pc/libunicorn/store-fix.patch), built once from
# the PyPI sdist into .cache/libunicorn and installed in the venv's unicorn package; where it
# cannot build, a one-line warning and the PyPI wheel's library. BTVMM_LIBUNICORN=pypi
# selects the wheel's at run time; `bt --version` says which one runs.
libunicorn: $(STAMP)
	@nice $(BIN)/python -m runtime.pc.libunicorn.build

# the guest corpus and the benchmark guests (bench/, built with corpus/lib)
corpus:
	$(MAKE) -s -C corpus
	$(MAKE) -s -C bench

# the whole benchmark suite (bench/README.md): the table, and the JSON and HTML reports in build/
bench: $(STAMP) libunicorn corpus linux
	@mkdir -p build
	$(BIN)/bt bench --json build/bench.json --html build/bench.html

# the guest kernel for Linux programs, and the test programs (tests/linux)
linux:
	$(MAKE) -s -C runtime/linux/kernel
	$(MAKE) -s -C tests/linux

# Debian's i386 busybox-static and bash-static in .cache/ (their tests skip without them)
busybox:
	@sh tests/linux/get-deb.sh busybox-static .cache/busybox
bash-static:
	@sh tests/linux/get-deb.sh bash-static .cache/bash-static

lint: $(STAMP)
	$(BIN)/ruff check bt runtime tests bench

# Cross-check the committed expected outputs against qemu-system-i386.
reference: corpus
	$(PYTHON) corpus/reference.py --check

clean:
	$(MAKE) -s -C corpus clean
	$(MAKE) -s -C bench clean
	$(MAKE) -s -C runtime/linux/kernel clean
	$(MAKE) -s -C tests/linux clean
	rm -rf $(VENV) build *.egg-info runtime/pc/_hooks*.so
