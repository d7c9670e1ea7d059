#!/usr/bin/env bash
# HAProxy for the several-replicas test and benchmark (tests/integration/test_replicas.py,
# benchmarks/replicas.py). Idempotent: installs Debian's package only when the binary is missing.
# The tests run it from a temporary config on free ports; no system service is used.
set -euo pipefail

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  echo "installing Debian's haproxy"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || true
  # RUNLEVEL=1: invoke-rc.d does not start the packaged service; the tests start their own.
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy >/dev/null
fi
/usr/sbin/haproxy -v | head -n1
