#!/usr/bin/env bash
# The OpenID provider the single sign-on browser test signs in against (tests/browser/test_sso.py):
# the npm package oidc-provider, installed into .cache/oidc and run with Debian's Node.js by the test
# (tests/browser/oidc_provider.mjs). Idempotent: installs only when the package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.cache/oidc
VERSION=9.6.1

if ! command -v node >/dev/null 2>&1; then
  echo "installing Debian's nodejs and npm"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -f "$DIR/node_modules/oidc-provider/package.json" ]; then
  echo "installing oidc-provider $VERSION into $DIR"
  mkdir -p "$DIR"
  [ -f "$DIR/package.json" ] || echo '{"private": true, "type": "module"}' > "$DIR/package.json"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "oidc-provider@$VERSION" >/dev/null
fi
echo "oidc-provider $(node -p "require('./$DIR/node_modules/oidc-provider/package.json').version") (node $(node --version))"
