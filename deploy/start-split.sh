#!/usr/bin/env bash
# Start Conga in split mode by hand (without systemd): the four services, then the engine.
# Usage: deploy/start-split.sh [--root DIR] [--run DIR] [--config FILE]
# Logs go to <run>/logs/<process>.log. Stop with: pkill -f 'conga-.*-service|congad'
set -euo pipefail
ROOT=/var/lib/conga RUN=/run/conga CONFIG=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --run) RUN=$2; shift 2 ;;
    --config) CONFIG=(--config "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$RUN/logs"
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }
start() { setsid "$@" --root "$ROOT" --run "$RUN" "${CONFIG[@]}" >>"$RUN/logs/$(basename "$1").log" 2>&1 < /dev/null & }
start conga-storage-service; wait_sock "$RUN/services/storage.sock"
for s in image network executor; do start "conga-$s-service"; done
for s in image network executor; do wait_sock "$RUN/services/$s.sock"; done
setsid congad --mode split --root "$ROOT" --run "$RUN" "${CONFIG[@]}" >>"$RUN/logs/congad.log" 2>&1 < /dev/null &
wait_sock "$RUN/conga.sock"
echo "conga (split) is up: unix://$RUN/conga.sock"
