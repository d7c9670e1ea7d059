#!/usr/bin/env bash
# Build Shiplane's container image with podman on this machine, from a local debian:bookworm-slim.
#
#   bash scripts/container-image.sh [TAG]        (default TAG: localhost/shiplane:dev)
#
# There is no registry for base images here, so the base is a stand-in: `debootstrap
# --variant=minbase bookworm`, made slim the way Debian's official -slim images are (dpkg
# leaves docs, man pages and locales out), and `podman import`ed as debian:bookworm-slim.
# Its tarball is cached. Podman's settings and image store are private to this cache folder
# (SHIPLANE_CONTAINER_CACHE, default .cache/container): to use that store yourself,
#   export CONTAINERS_CONF=.cache/container/containers.conf CONTAINERS_STORAGE_CONF=.cache/container/storage.conf
# Needs root, and the tools that scripts/container-tools.sh installs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tag="${1:-localhost/shiplane:dev}"
cache="${SHIPLANE_CONTAINER_CACHE:-$root/.cache/container}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
# One build at a time per cache (the test and the benchmark may run side by side).
exec 9>"$cache/lock"
flock 9

# crun refuses this machine's hybrid cgroups (v1 controllers with a v2 mount): runc and
# cgroupfs. Setting rlimits is not permitted here: no default ulimits.
cat > "$cache/containers.conf" <<CONF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
tmp_dir = "$cache/tmp"
CONF
cat > "$cache/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$cache/run"
CONF
# Run-time state must not outlive a reboot.
boot_id="$(cat /proc/sys/kernel/random/boot_id)"
if [ "$(cat "$cache/boot_id" 2>/dev/null)" != "$boot_id" ]; then
  rm -rf "$cache/run" "$cache/tmp"
  echo "$boot_id" > "$cache/boot_id"
fi
export CONTAINERS_CONF="$cache/containers.conf" CONTAINERS_STORAGE_CONF="$cache/storage.conf"

if ! podman image exists debian:bookworm-slim; then
  tarball="$cache/bookworm-slim.tar"
  if [ ! -s "$tarball" ]; then
    rootfs="$cache/rootfs.tmp"
    rm -rf "$rootfs"
    echo "debootstrap --variant=minbase bookworm (a few minutes, once)" >&2
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >&2
    # What Debian's -slim variant does: no docs, man pages or locales, now or from later installs.
    cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/* \
      "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --quiet "$tarball" debian:bookworm-slim >/dev/null
fi

# pip inside the build reaches PyPI through the host's network (--network host) and trusts
# what the host trusts (a TLS-inspecting proxy's CA, for one): the host's CA bundle is
# mounted for the build only and named by the PIP_CERT build argument.
ca=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca.crt:ro --build-arg PIP_CERT=/etc/ssl/host-ca.crt)
[ -s /etc/ssl/certs/ca-certificates.crt ] || ca=()
# --format docker: the OCI image format has no HEALTHCHECK.
podman build --pull=never --format docker --network host "${ca[@]}" -t "$tag" "$root" >&2
# Each change of the sources leaves the previous images untagged; keep a day's worth (the
# build stage's layers are the cache of the next build), not all of them.
podman image prune -f --filter until=24h >/dev/null
echo "$tag"
