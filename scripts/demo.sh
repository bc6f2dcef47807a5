#!/usr/bin/env bash
# sluice's main job, end to end: build sluice, boot the bundled single-host Slurm
# (slurm/cluster.sh; falls back to the local backend where Slurm cannot start),
# and tick the example plan (examples/demo/tasks.md) until it reaches its first
# reflection gate, showing the runs, the markers written back and the log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "==> building sluice"
swift build 2>&1 | tail -n 1
sluice="$root/.build/debug/sluice"

backend=slurm
if [ "$(id -u)" = 0 ] && slurm/cluster.sh up; then
  eval "$(slurm/cluster.sh env)"
else
  echo "==> Slurm could not start here: running the same plan on the local backend"
  backend=local
fi

demo="$root/demo-run"
rm -rf "$demo"
mkdir -p "$demo"
cp examples/demo/tasks.md "$demo/tasks.md"
cat >"$demo/sluice.toml" <<TOML
[slurm]
backend = "$backend"
[limits]
max_concurrent = 4   # GPU slots the demo may use at once
TOML
cd "$demo"

echo "==> the plan"
"$sluice" tasks
echo
echo "==> what a tick would do"
"$sluice" plan
echo

in_flight() { "$sluice" runs --json | grep -cE '"state" : "(queued|submitting|pending|running|unknown)"' || true; }
deadline=$((SECONDS + 300))
while :; do
  "$sluice" tick
  if [ "$(in_flight)" = 0 ] && "$sluice" runs --json | grep -q '"state"'; then
    runnable=$("$sluice" tasks --json | grep -c '"runnable" : true' || true)
    [ "$runnable" = 0 ] && break
  fi
  if [ $SECONDS -gt $deadline ]; then
    echo "demo: the plan did not reach its gate in 300 s" >&2
    exit 1
  fi
  sleep 2
done

echo
echo "==> reached the first gate: a person checks it before phase 2 runs"
"$sluice" tasks
echo
echo "==> the runs"
"$sluice" runs
echo
echo "==> one run in full, and its log"
"$sluice" show p1-learning-rate-sweep.3
"$sluice" logs p1-learning-rate-sweep.3
echo
echo "==> the iteration log (.sluice/log.md)"
"$sluice" log | tail -n 20
echo
echo "==> the tasks file now (markers written back)"
sed -n '/## Phase 1/,/## Phase 2/p' tasks.md | grep -E '^- \['
echo
echo "demo done in $demo (backend: $backend). Check the gate in tasks.md and run 'sluice tick' to go on."
