#!/usr/bin/env bash
# Every test: boots the bundled Slurm cluster (installing Slurm, munge, slurmdbd and
# MariaDB from Debian's packages if missing), builds sluice, runs the whole test
# suite against it, checks the formatting, and stops the cluster if it started it.
# SLUICE_KEEP_CLUSTER=1 leaves the cluster running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

was_up=0
if slurm/cluster.sh status >/dev/null 2>&1; then was_up=1; fi
stop_cluster() {
  if [ "$was_up" = 0 ] && [ "${SLUICE_KEEP_CLUSTER:-0}" != 1 ]; then
    slurm/cluster.sh down || true
  fi
}
trap stop_cluster EXIT

echo "==> booting the bundled Slurm cluster"
slurm/cluster.sh up
eval "$(slurm/cluster.sh env)"
export SLUICE_REQUIRE_SLURM=1

echo "==> building"
swift build --build-tests

echo "==> tests"
swift test --skip-build

echo "==> swift format lint --strict"
swift format lint --strict -r Sources Tests Package.swift
echo "format: clean"
