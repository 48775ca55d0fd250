#!/usr/bin/env bash
# Prepare a fresh machine for the demo, the tests and the benchmarks:
#   1. a virtualenv in .venv with the project and its dev extras installed (re-used when up to date);
#   2. redis-server and docker-compose, installed from Debian's packages when not on PATH.
# Idempotent: a second run does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  echo "bootstrap: installing the project and its dev extras" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
  "$VENV/bin/python" -c 'import consumer, confluent_kafka, fastavro, aiohttp' # fail loudly if the install did not work
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
