# One place for every command README.md names. Each target sets itself up from a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
BRIAN   ?= .venv-brian2
DURATION ?= 60

.PHONY: venv demo test test-quick bench system-deps brian2-env clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/spikestream warmup
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (a real Mosquitto broker and its clients; openssl for the TLS test CA;
# systemd for systemd-analyze, which checks the units in deploy/systemd). Installs only what is missing.
system-deps:
	@{ command -v mosquitto && command -v mosquitto_sub && command -v openssl && command -v ip && command -v systemd-analyze; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq mosquitto mosquitto-clients openssl iproute2 systemd >/dev/null; }

# Brian2 needs numpy<2, so it lives in its own environment; tests drive it through a subprocess.
$(BRIAN)/.installed:
	test -x $(BRIAN)/bin/python || $(PY) -m venv $(BRIAN)
	$(BRIAN)/bin/python -m pip install -q --upgrade pip
	$(BRIAN)/bin/python -m pip install -q 'brian2==2.9.0' 'numpy<2' cython
	touch $(BRIAN)/.installed

brian2-env: $(BRIAN)/.installed

demo: $(STAMP)
	$(BIN)/spikestream demo --duration $(DURATION)

test: $(STAMP) system-deps brian2-env
	SPIKESTREAM_BRIAN2_PYTHON=$(abspath $(BRIAN))/bin/python $(BIN)/python -m pytest -q -ra

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"

bench: $(STAMP) brian2-env
	SPIKESTREAM_BRIAN2_PYTHON=$(abspath $(BRIAN))/bin/python $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BRIAN) build *.egg-info
