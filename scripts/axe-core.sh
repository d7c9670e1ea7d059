#!/usr/bin/env bash
# axe-core (npm) for the browser accessibility tests: Playwright injects its axe.min.js into each page.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

VERSION="4.11.0"
DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/axe"
if [ -f "$DIR/node_modules/axe-core/axe.min.js" ] && grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/axe-core/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing Debian's npm"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
fi
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --prefix "$DIR" "axe-core@$VERSION"
echo "axe-core $VERSION in $DIR"
