# Everything a fresh machine needs: Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint docs bench bench-bank bench-peers bench-scale lock clean chromium java

# requirements.lock is what `pip install mqlml` needs; requirements-dev.lock adds the dev extra
# (tests, linters) at the same versions, and is what a developer's and CI's venv holds.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mqlml demo --out demo-output

# Headless Chromium for the report's browser test (Debian package; nothing downloaded by pip).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update && apt-get install -y chromium

chromium: $(CHROMIUM)

# PySpark (dev extra) needs a Java runtime; install Debian's when the machine has none.
java:
	@command -v java >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless)

# lint-imports checks the import contracts of [tool.importlinter] in pyproject.toml.
test: $(STAMP) $(CHROMIUM) java
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/lint-imports
	# Idle OpenMP threads sleep instead of spinning: two workers share two cores (2.4x faster).
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/lint-imports

# The generated reference pages; tests/test_docs.py fails while they are stale.
docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py

bench: $(STAMP)
	$(BIN)/python benchmarks/synthetic_truth.py

# Real data under a moving base rate (needs shared/data/uci-bank-marketing).
bench-bank: $(STAMP)
	$(BIN)/python benchmarks/real_bank_marketing.py

# The same with AutoGluon beside the other models: the `peers` extra of pyproject.toml in its
# own venv (it pins pandas < 2.4, below requirements.lock; about 1.1 GB, a minute to install),
# which the benchmark runs as a subprocess. 300 s per fit on the fixed holdout; the rolling
# origin's 10 folds get BENCH_PEERS_ARGS' limit each (10 x 300 s would take 50 minutes).
PEERS       := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
BENCH_PEERS_ARGS ?= --peer-rolling-time-limit 60 --json bench-bank.json

$(PEERS_STAMP): pyproject.toml $(STAMP)
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['peers']))" > $(PEERS)/requirements.txt
	$(PEERS)/bin/python -m pip install --quiet -r $(PEERS)/requirements.txt
	touch $(PEERS_STAMP)

bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/real_bank_marketing.py --peers-python $(PEERS)/bin/python $(BENCH_PEERS_ARGS)

# Features, scoring and training at 100k, 1M and 5M leads (see benchmarks/README.md):
# about an hour on 2 cores; up to ~11 GB of memory (the 5M-lead features, see benchmarks/README.md).
bench-scale: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python benchmarks/scale.py --sizes 100000,1000000,5000000 --json benchmarks/scale.json

# Regenerate both locks after changing dependencies in pyproject.toml (needs network to PyPI).
# uv keeps the versions already pinned in an output file unless pyproject.toml rules them out;
# the runtime lock is constrained by the dev lock, so both pin every shared package alike.
lock:
	$(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet uv
	.lockenv/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock
	.lockenv/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -c requirements-dev.lock -o requirements.lock

clean:
	rm -rf $(VENV) $(PEERS) .lockenv demo-output
