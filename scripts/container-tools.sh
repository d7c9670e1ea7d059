#!/usr/bin/env bash
# Install what the container and Kubernetes tests need (tests/integration/test_container.py,
# tests/integration/test_kubernetes.py): Debian's podman, buildah, runc and debootstrap (the
# base image is built locally: there is no image registry here), plus kubectl for
# `kubectl kustomize` (Debian's kubernetes-client, if kubectl is not already on the machine).
# Idempotent; safe to run every time.
set -euo pipefail

missing=()
for tool in podman buildah runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# newuidmap (uidmap), slirp4netns and fuse-overlayfs: podman's helpers, needed when not run as root.
command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
command -v fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian's ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
podman --version
kubectl version --client 2>/dev/null | head -n1 || true
