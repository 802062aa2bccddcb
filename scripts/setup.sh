#!/usr/bin/env bash
# The one set-up command (README): system packages, npm ci, build, conga/congad on PATH.
# Run as root on Debian 12 (or with sudo). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  zstd
  runc conmon containernetworking-plugins iptables iproute2 util-linux attr
  docker-registry busybox-static redis-server skopeo systemd
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build

for b in conga congad conga-image-service conga-storage-service conga-network-service conga-executor-service; do
  ln -sf "$PWD/bin/$b" "/usr/local/bin/$b"
done
echo "setup: done. conga and congad are on PATH ($(command -v conga), $(command -v congad))."
