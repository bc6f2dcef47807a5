#!/usr/bin/env bash
# Runs sluice's benchmarks on the bundled Slurm cluster and writes
# bench/results/latest.jsonl (raw) and bench/results/latest.md (the table the
# README quotes). Usage: bench/run.sh [store|tick|calls|submit ...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(store tick calls submit)

# Built as installed (scripts/install.sh): Swift's runtime and FoundationEssentials linked
# in, which saves ~8 ms of dynamic loading on every start.
swift build -c release --static-swift-stdlib --product sluice 2>&1 | tail -n 1
swift build -c release --static-swift-stdlib --product sluice-bench 2>&1 | tail -n 1
swift build -c release --static-swift-stdlib --product sluice-floor 2>&1 | tail -n 1
slurm/cluster.sh up
eval "$(slurm/cluster.sh env)"

out=bench/results
mkdir -p "$out"
raw="$out/latest.jsonl"
touch "$raw"
for b in "${benches[@]}"; do
  echo "==> $b"
  line=$(.build/release/sluice-bench "$b" "$PWD/.build/release/sluice")
  echo "$line"
  # Replace this benchmark's previous line, keep the others.
  grep -v "\"bench\":\"$b\"" "$raw" >"$raw.tmp" || true
  echo "$line" >>"$raw.tmp"
  mv "$raw.tmp" "$raw"
done
{
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(sinfo --version), sluice $(.build/release/sluice --version | cut -d' ' -f2), release build (static Swift runtime)."
  echo
  .build/release/sluice-bench report "$raw"
} >"$out/latest.md"
cat "$out/latest.md"
