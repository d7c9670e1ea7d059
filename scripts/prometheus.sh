#!/usr/bin/env bash
# Unpack Debian's Prometheus (prometheus + promtool) into .cache/prometheus for the tests.
# No system install: `apt-get download` + `dpkg -x`. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/prometheus
if [ -x "$dest/usr/bin/prometheus" ] && [ -x "$dest/usr/bin/promtool" ]; then
  exit 0
fi
mkdir -p "$dest" .cache/deb
cd .cache/deb
if ! apt-get download prometheus >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download prometheus >/dev/null 2>&1
fi
cd ../..
dpkg -x .cache/deb/prometheus_*.deb "$dest"
"$dest/usr/bin/prometheus" --version | head -n1
