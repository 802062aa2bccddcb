#!/usr/bin/env bash
# The one set-up command (README): system packages, npm ci, build, conga/congad on PATH.
# Run as root on Debian 12 (or with sudo). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  zstd
  runc conmon containernetworking-plugins iptables iproute2 util-linux attr
  docker-registry busybox-static redis-server skopeo systemd
  openssl tini containerd
  # docker.io: dockerd for the image interop test and the benchmark's docker column (run privately, never as a service)
  docker.io
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Conga's tests start their own registry, redis, containerd and dockerd: keep the packages'
  # system services from starting (a system dockerd would also rewrite the host's iptables).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build

for b in conga congad conga-image-service conga-storage-service conga-network-service conga-executor-service; do
  ln -sf "$PWD/bin/$b" "/usr/local/bin/$b"
done
echo "setup: done. conga and congad are on PATH ($(command -v conga), $(command -v congad))."
