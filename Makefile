# Two commands do all set-up on a fresh machine: `make test` and `make run`.
# bash: `make bench` reads PIPESTATUS
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.py | sha256sum | cut -c1-12)
# pytest-xdist workers; the 2-core CI machine does best with one per core.
JOBS   ?= auto

.PHONY: venv vendor vectors test matrix run bench clean spectest-mainnet fuzz pair-trinity soak break

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP) vendor

# The monitor page draws with cytoscape.js, installed from the npm registry (a registry
# package, pinned) and served by `pybeacon monitor` as a static file; not committed.
CYTOSCAPE_VERSION := 3.35.0
VENDOR_JS := beacon/monitor/static/vendor/cytoscape.min.js
vendor: $(VENDOR_JS)
$(VENDOR_JS):
	@mkdir -p build/npm $(dir $(VENDOR_JS))
	cd build/npm && npm pack --silent cytoscape@$(CYTOSCAPE_VERSION) >/dev/null
	tar -xzf build/npm/cytoscape-$(CYTOSCAPE_VERSION).tgz -C build/npm package/dist/cytoscape.min.js
	cp build/npm/package/dist/cytoscape.min.js $@

# The official v0.8.3 vectors (general + minimal), downloaded once into the user cache.
vectors: venv
	$(VENV)/bin/pybeacon spectest fetch --preset minimal

# The whole suite on the venv's Python (3.11), then the version matrix.
test: vectors
	$(PY) -m pytest -n $(JOBS) -q -p no:cacheprovider tests spectests
	$(MAKE) matrix

# nox drives the version matrix, with uv for fast installs (see noxfile.py); both live in the
# project venv so that nothing else is needed.
NOX_REQ   := nox[uv]>=2025.10.16,<2027
NOX_STAMP := $(VENV)/.nox-$(shell echo '$(NOX_REQ)' | sha256sum | cut -c1-12)
$(NOX_STAMP): $(STAMP)
	$(PY) -m pip install -q '$(NOX_REQ)'
	@rm -f $(VENV)/.nox-* && touch $(NOX_STAMP)

# A fast part of the suite (unit tests, the minimal vectors, a two-node run) on CPython 3.12 and
# 3.13, each in its venv under .nox/ (see noxfile.py). Fails, naming the places it looked, when an
# interpreter is missing. NOX_ARGS="-s fast-3.13" runs one version.
NOX_ARGS ?=
matrix: $(NOX_STAMP) vectors
	$(VENV)/bin/nox $(NOX_ARGS)

# Interop exercise 2 on this machine: node A (16 validators) and node B (none, A's static peer)
# as separate processes on 127.0.0.1, until B sees RUN_FINALIZED_EPOCH finalized (~3 min with
# the defaults). Exit status 0 only if that goal was reached. Output in runs/.
RUN_SLOT_SECONDS    ?= 2
RUN_FINALIZED_EPOCH ?= 8
RUN_GENESIS_DELAY   ?= 15
run: venv
	$(PY) -m beacon.demo --slot-seconds $(RUN_SLOT_SECONDS) --finalized-epoch $(RUN_FINALIZED_EPOCH) \
		--genesis-delay $(RUN_GENESIS_DELAY)

# Break the testnet on purpose (issue 13): the five exercises as written, one after another, into
# one report (runs/break/report.md). With root they run in network namespaces (nftables cuts and
# loss); without, on 127.0.0.1 (the link relays are cut). About 30 min.
BREAK_EXERCISES ?= exercises/partition.yaml exercises/equivocate.yaml exercises/offline.yaml exercises/exit.yaml exercises/sixteen.yaml
break: venv
	$(PY) -m beacon.testnet $(BREAK_EXERCISES) $$( [ "$$(id -u)" = 0 ] && echo --netns ) --out runs/break

# Pair with Trinity (interop branch, Sept 2019; built by hand from ../shared/peers/trinity/, see
# docs/pairings/trinity.md): exercises 1, 2 and 4 with pybeacon as A and as B, then the late
# joiner, at 6 s slots, goal finalized epoch PAIR_EPOCH. Reports in runs/pair-trinity/ (~1 h).
# Without Trinity built it prints how to build it and exits 2. PAIR_ONLY=ex2-pybeacon-A,... runs a few.
PAIR_EPOCH ?= 4
PAIR_ONLY  ?=
pair-trinity: venv
	@$(PY) -m beacon.testnet.pair trinity --out runs/pair-trinity --finalized-epoch $(PAIR_EPOCH) --only "$(PAIR_ONLY)"

# Opt-in (not in `make test`): the mainnet vectors unpack to ~4 GB.
spectest-mainnet: venv
	$(VENV)/bin/pybeacon spectest fetch --preset mainnet
	$(VENV)/bin/pybeacon spectest --preset mainnet

# SIGKILL soak (issue 15): kill the validating node of a 2-node testnet SOAK_KILLS times at random
# moments, restart it each time, audit for slashable signatures, require finality afterwards.
SOAK_KILLS        ?= 100
SOAK_SLOT_SECONDS ?= 2
soak: venv
	$(PY) -m beacon.chaos.soak --kills $(SOAK_KILLS) --slot-seconds $(SOAK_SLOT_SECONDS) --out runs/soak

# The fuzzing campaign (tests/fuzz): FUZZ_INPUTS inputs over all targets, one atheris process per
# target, FUZZ_JOBS at a time; figures to docs/reliability.md, crashing inputs to runs/fuzz/crashes.
FUZZ_INPUTS ?= 1000000
FUZZ_JOBS   ?= 2
fuzz: vectors
	$(PY) -m tests.fuzz.campaign all --total $(FUZZ_INPUTS) --jobs $(FUZZ_JOBS) --out runs/fuzz --report docs/reliability.md

# Every benchmark (or BENCH="benchmarks/a.py ..."), then one table of all their `result:` lines
# (figures with their same-run baselines). The full log is kept in runs/bench.log.
BENCH ?= $(filter-out benchmarks/results_table.py benchmarks/flamegraphs.py,$(wildcard benchmarks/[!_]*.py))
bench: venv
	$(PY) -m pip install -q -e ".[bench]"
	@mkdir -p runs; : > runs/bench.log
	@for b in $(BENCH); do \
		echo "== $$b" | tee -a runs/bench.log; \
		$(PY) $$b 2>&1 | tee -a runs/bench.log; test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
	@echo; $(PY) benchmarks/results_table.py runs/bench.log

clean:
	rm -rf $(VENV) .nox build *.egg-info
