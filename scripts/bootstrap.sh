#!/usr/bin/env bash
# Prepare a fresh machine for the demo, the tests and the benchmarks:
#   1. a virtualenv in .venv with the project and its dev extras installed, consumer/core compiled
#      with mypyc in place (re-used while pyproject.toml, setup.py and the core's sources are
#      unchanged; CONSUMER_CORE_PURE=1 installs the pure-Python build instead);
#   2. redis-server and docker-compose, installed from Debian's packages when not on PATH.
# Idempotent: a second run does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
# The install is redone whenever what it builds from changes: a compiled module left next to newer
# source would be stale (consumer.core refuses to import it; this rebuilds it first).
# pip, quiet when it works; its whole output and a non-zero exit when it fails (a mypyc error in
# the core must stop here with its message, not surface later as a stale or missing module).
pip_quiet() {
  local log
  log=$(mktemp)
  if ! "$VENV/bin/python" -m pip --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    rm -f "$log"
    echo "bootstrap: pip $* failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
}

BUILD_INPUTS=$(cat pyproject.toml setup.py consumer/build_info.py consumer/core/*.py consumer/core/*.c | sha256sum | cut -c1-16)
STAMP=$VENV/.installed-$BUILD_INPUTS-pure${CONSUMER_CORE_PURE:-0}

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  # mypyc's output is C: the compiler and Python's headers come from Debian's packages if absent,
  # and OpenSSL's headers for consumer/core/_digest.c (SHA-256 with the libcrypto hashlib uses).
  BUILD_TOOLS=()
  command -v gcc >/dev/null 2>&1 || BUILD_TOOLS+=(gcc)
  printf '#include <openssl/evp.h>\n' | gcc -E -x c - >/dev/null 2>&1 || BUILD_TOOLS+=(libssl-dev)
  "$VENV/bin/python" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null || BUILD_TOOLS+=(python3-dev)
  if [ "${CONSUMER_CORE_PURE:-0}" != 1 ] && [ ${#BUILD_TOOLS[@]} -gt 0 ]; then
    echo "bootstrap: installing ${BUILD_TOOLS[*]} from Debian's packages (to compile consumer/core)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${BUILD_TOOLS[@]}" >/dev/null
  fi
  echo "bootstrap: installing the project and its dev extras" >&2
  pip_quiet install --upgrade pip
  # The build requirements of pyproject.toml, in the venv: rebuilds skip an isolated build env.
  pip_quiet install 'setuptools>=77' wheel 'mypy>=1.10'
  rm -f consumer/core__mypyc.*.so consumer/core/*.so consumer/core/compiled.sha256 # nothing stale survives
  # First the dependencies (with the quick pure build), so that mypyc compiles the core against
  # their real types; then the core compiled in place.
  CONSUMER_CORE_PURE=1 pip_quiet install --no-build-isolation -e '.[dev]'
  started=$(date +%s)
  pip_quiet install --no-build-isolation --no-deps -e '.[dev]'
  echo "bootstrap: built in $(($(date +%s) - started)) s ($([ "${CONSUMER_CORE_PURE:-0}" = 1 ] && echo pure Python || echo consumer/core compiled with mypyc))" >&2
  "$VENV/bin/python" -c 'import consumer, confluent_kafka, fastavro, aiohttp' # fail loudly if the install did not work
  [ "${CONSUMER_CORE_PURE:-0}" = 1 ] || "$VENV/bin/python" -c 'import consumer.core.mapping as m; assert m.__file__.endswith(".so"), m.__file__'
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

# Debian packages the tests need: redis-server (the Redis dedup backend, run by the tests),
# docker-compose (validates docker-compose.yml offline; no Docker engine is needed) and prometheus
# (for promtool, which checks and unit-tests the chart's alert rules; the server is never started).
MISSING=()
command -v redis-server >/dev/null 2>&1 || MISSING+=(redis-server)
command -v docker-compose >/dev/null 2>&1 || MISSING+=(docker-compose)
command -v promtool >/dev/null 2>&1 || MISSING+=(prometheus)
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "bootstrap: installing ${MISSING[*]} from Debian's packages" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  # Packages must not start their daemons (prometheus on :9090, redis on :6379): the tests start
  # their own on free ports. policy-rc.d exit 101 tells invoke-rc.d "not allowed"; keep one that
  # is already there (container images ship it), else install ours for the duration.
  POLICY=/usr/sbin/policy-rc.d
  OWN_POLICY=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    OWN_POLICY=1
  fi
  $SUDO apt-get update -qq
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null || status=$?
  [ -z "$OWN_POLICY" ] || $SUDO rm -f "$POLICY"
  [ "$status" -eq 0 ] || exit "$status"
fi
