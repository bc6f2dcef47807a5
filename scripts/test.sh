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
    slurm/cluster.sh down >/dev/null 2>&1 || true
  fi
}
trap stop_cluster EXIT

echo "==> booting the bundled Slurm cluster"
slurm/cluster.sh up
eval "$(slurm/cluster.sh env)"
export SLUICE_REQUIRE_SLURM=1

echo "==> building"
swift build --build-tests

echo "==> swift format lint --strict"
swift format lint --strict -r Sources Tests Package.swift
echo "format: clean"

echo "==> tests"
log=$(mktemp)
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(grep -cE "Test Case .* failed \(" "$log" || true)
skipped=$(grep -cE "Test Case .* skipped" "$log" || true)
rm -f "$log"
if [ -z "$summary" ]; then
  echo "tests: no XCTest summary found" >&2
  exit 1
fi
echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$status" = 0 ] || exit "$status"

