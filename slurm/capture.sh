#!/usr/bin/env bash
# Capture the real output of the Slurm commands sluice uses, for test fixtures.
#
#   slurm/cluster.sh up && slurm/capture.sh [OUTDIR]
#
# Needs the bundled cluster up in accounting mode (run as root). Submits its own
# jobs as the test user, runs each command sluice uses and stores its stdout
# verbatim in OUTDIR (default Tests/Fixtures/captured) as
# <tool>-<what>-<slurm version>.txt; stderr, if any, goes to
# <tool>-<what>-stderr-<version>.txt. SOURCES.md names the exact command line,
# exit code and duration of each; INDEX.tsv has the same in tab-separated form.
# On the way it stops/starts the controller and slurmdbd and reboots the
# cluster once with --no-accounting; it leaves the cluster up with accounting,
# reset (no jobs, default settings).

set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CL=$HERE/cluster.sh
OUT=${1:-$ROOT/Tests/Fixtures/captured}
U=sluicetest
S=$'\x1f'
WORK=/tmp/sluice-capture

[ "$(id -u)" = 0 ] || { echo "capture.sh: run as root" >&2; exit 1; }
eval "$("$CL" env)"
export SLURM_TIME_FORMAT=%Y-%m-%dT%H:%M:%S
"$CL" status >/dev/null || { echo "capture.sh: cluster is not up (slurm/cluster.sh up)" >&2; exit 1; }
[ "$(cat "$SLUICE_SLURM_DIR/mode")" = accounting ] || { echo "capture.sh: needs accounting mode" >&2; exit 1; }

VER=$(sinfo -V | awk '{print $NF}')
SRC=$OUT/SOURCES.md
IDX=$OUT/INDEX.tsv

log() { echo "capture.sh: $*" >&2; }

mkdir -p "$OUT" "$WORK"
chmod 1777 "$WORK"
cd "$WORK" || exit 1
rm -f "$OUT"/*-"$VER".txt "$SRC" "$IDX"

SINFO_FMT="NodeList:$S,Partition:$S,StateLong:$S,CPUsState:$S,Memory:$S,AllocMem:$S,Gres:$S,GresUsed:$S"
SQUEUE_FMT="JobID:$S,ArrayJobID:$S,ArrayTaskID:$S,Name:$S,State:$S,Reason:$S,Partition:$S,tres-per-job:$S,tres-per-node:$S,tres-alloc:$S,SubmitTime:$S,StartTime:$S,UserName:$S"
SACCT_FIELDS=JobID,JobIDRaw,JobName,State,ExitCode,Elapsed,Reason,Start,End

cat >"$SRC" <<EOF
# Captured Slurm output ($VER)

Made by \`slurm/capture.sh\` against the bundled cluster (\`slurm/cluster.sh\`:
ClusterName sluice, nodes n[1-4] with 4 CPUs / 4000 MB, n1,n2 with 4 GPUs each,
partitions cpu (default) and gpu, QOS normal and limited).
Captured on $(date -u +%Y-%m-%dT%H:%M:%SZ).

Every command ran with \`SLURM_CONF=$SLURM_CONF SLURM_TIME_FORMAT=$SLURM_TIME_FORMAT\`,
as user \`$U\` unless it says root, in \`$WORK\`. Each \`X-$VER.txt\` is the exact
stdout; \`X-stderr-$VER.txt\` (only when non-empty) the exact stderr. In command
lines, \`\$'\\x1f'\` is the ASCII unit separator U+001F (a literal byte in the real
argument). \`INDEX.tsv\` lists file, exit code, seconds and command per capture.

## Findings (checked on 22.05.8)

- \`-O\` (sinfo/squeue) field syntax is \`Name[:[.][width][suffix]]\`. \`Name:\x1f\`
  (colon, no width, then the separator as suffix) prints the value at full
  length with no padding and no truncation; \`Name:0\x1f\` is the same. Without
  the colon each field is padded/truncated to 20 columns and no separator
  is printed (see \`sinfo-nodes-idle-nocolon\`). A 70-character job name comes
  through whole (job \`cap-pending-...\`).
- squeue \`-O JobID\` is the numeric job id: for pending array tasks it is the
  array's id (e.g. with -r all of \`8_2\`..\`8_5\` show JobID 8), for running tasks
  their own id; \`JobArrayID\` (and \`-o %i\`) give \`8_2\` / \`8_[2-5%2]\`.
  Without -r the pending rest of an array is one line with ArrayTaskID \`2-5%2\`.
- squeue \`tres-per-job\` is \`gres:gpu:1\` for \`--gpus=1\`; \`tres-per-node\` is
  \`gres:gpu:2\` for \`--gres=gpu:2\`; unset ones print \`N/A\`; \`tres-alloc\`
  ends in \`gres/gpu=N\`. StartTime of a pending job is \`N/A\`.
- sinfo \`GresUsed\` is \`gpu:2\` (no \`(IDX:..)\`), \`gpu:0\` on nodes without
  GPUs, whose \`Gres\` is \`(null)\`. Nodes in two partitions are listed once per
  partition; the default partition has a \`*\` suffix in \`Partition\` and \`%P\`
  but not in \`%R\`. \`%R...%G\` lines are split by node configuration, so a
  partition can appear on more than one line.
- sacct: \`Reason\` is a valid field. Its value can be stale (completed array
  tasks keep \`JobArrayTaskLimit\`). sacct lags the controller by seconds.
- squeue without \`-t\` hides ended jobs even with \`-j\`; \`-t all\` shows them
  until MinJobAge (30 s) passes, then \`-j\` fails with
  \`slurm_load_jobs error: Invalid job id specified\` (exit 1).
- scancel exits 0 and prints nothing for an ended, purged or never-existing
  job id (only \`-v\` shows the error).

EOF
printf 'file\texit_code\tseconds\tuser\tcommand\n' >"$IDX"

# show_cmd ARGS... -> shell-quoted command line with \x1f spelled $'\x1f'
show_cmd() {
  local a out=""
  for a in "$@"; do
    if [[ $a == *$S* || $a == *[^A-Za-z0-9_./:=,%@+-]* ]]; then
      a=${a//\\/\\\\}
      a=${a//\'/\\\'}
      a=${a//$S/\\x1f}
      out+="\$'$a' "
    else
      out+="$a "
    fi
  done
  echo "${out% }"
}

as_user() { runuser -u "$U" -- env SLURM_CONF="$SLURM_CONF" SLURM_TIME_FORMAT="$SLURM_TIME_FORMAT" "$@"; }

LAST_RC=0
# cap NAME NOTE CMD... : run CMD as $U (NAME ending in @root: as root)
cap() {
  local name=$1 note=$2 who=$U
  shift 2
  if [[ $name == *@root ]]; then name=${name%@root}; who=root; fi
  local f="$OUT/$name-$VER.txt" e="$OUT/$name-stderr-$VER.txt" t0 t1 rc secs
  t0=$(date +%s%N)
  if [ $who = root ]; then "$@" >"$f" 2>"$e" </dev/null; else as_user "$@" >"$f" 2>"$e" </dev/null; fi
  rc=$?
  t1=$(date +%s%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  [ -s "$e" ] || rm -f "$e"
  LAST_RC=$rc
  local cmd
  cmd=$(show_cmd "$@")
  {
    echo "## \`$name-$VER.txt\`"
    echo
    echo "- command ($who): \`$cmd\`"
    echo "- exit code $rc, took ${secs}s$([ -e "$e" ] && echo "; stderr in \`$name-stderr-$VER.txt\`")"
    [ -n "$note" ] && echo "- $note"
    echo
  } >>"$SRC"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name-$VER.txt" "$rc" "$secs" "$who" "$cmd" >>"$IDX"
  log "$name: rc=$rc ${secs}s"
  return 0
}

note() { printf '%s\n\n' "$*" >>"$SRC"; }
out_of() { cat "$OUT/$1-$VER.txt"; }

submit() { as_user sbatch --parsable -o "$WORK/%x-%j.out" "$@" </dev/null; }

state_of() { squeue -h -j "$1" -o %T 2>/dev/null | head -n1; }

# wait_state JOB STATE [SECONDS]
wait_state() {
  local i
  for ((i = 0; i < ${3:-30} * 4; i++)); do
    [ "$(state_of "$1")" = "$2" ] && return 0
    sleep 0.25
  done
  log "job $1 not $2 (is: $(state_of "$1"))"
  return 1
}

# wait_done JOB... : until no job is pending/running/completing in the controller
wait_done() {
  local j i
  for j in "$@"; do
    for ((i = 0; i < 600; i++)); do
      [[ "$(squeue -h -j "$j" -t PD,R,CG,CF,S -o %T 2>/dev/null)" ]] || break
      sleep 0.5
    done
  done
}

# wait_sacct JOB STATE-REGEX : until slurmdbd has the final state
wait_sacct() {
  local i
  for ((i = 0; i < 60; i++)); do
    sacct -n -P -X -j "$1" -o State 2>/dev/null | head -n1 | grep -Eq "$2" && return 0
    sleep 0.5
  done
  log "sacct never showed job $1 as $2"
}

log "resetting cluster"
"$CL" reset || exit 1

# ---------------------------------------------------------------- idle cluster
note "# Idle cluster"
cap sinfo-nodes-idle "" sinfo -h -N -O "$SINFO_FMT"
cap sinfo-nodes-idle-nocolon "same fields without ':' (default width 20, values padded/truncated) - shows why the ':' form is used" \
  sinfo -h -N -O "NodeList,Partition,StateLong,CPUsState,Memory,AllocMem,Gres,GresUsed"
cap sinfo-nodes-idle-width0 "explicit width 0 (':0' then the separator): same output as ':' alone" \
  sinfo -h -N -O "NodeList:0$S,Partition:0$S,StateLong:0$S,CPUsState:0$S,Memory:0$S,AllocMem:0$S,Gres:0$S,GresUsed:0$S"
cap sinfo-partitions-idle "" sinfo -h -o "%R$S%a$S%D$S%C$S%G"
cap sinfo-partition-names "the default partition carries a '*'" sinfo -h -o '%P'
cap scontrol-ping-up "" scontrol ping
cap scontrol-show-config "" scontrol show config
cap sacctmgr-assoc "" sacctmgr -P -n show assoc where user=$U format=Cluster,Account,User,Partition,QOS,MaxJobs,MaxSubmit,GrpJobs,GrpSubmit
cap sacctmgr-qos "" sacctmgr -P -n show qos format=Name,MaxJobsPU,MaxSubmitPU,MaxTRESPU

# ---------------------------------------------------------------- jobs
note "# Jobs"
T=$(submit -J cap-timeout --time=1 --wrap 'sleep 300')  # hits its 1-minute limit
cap sbatch-parsable-ok "successful submit: the job id, newline-terminated" \
  sbatch --parsable -J cap-running -c 2 -o "$WORK/%x-%j.out" --wrap 'sleep 600'
R=$(out_of sbatch-parsable-ok)
G1=$(submit -J cap-gres -p gpu --gres=gpu:2 --wrap 'echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep 600')
G2=$(submit -J cap-gpus -p gpu --gpus=1 --wrap 'echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep 600')
A=$(submit -J cap-array --array=0-5%2 --wrap 'sleep 15')
F=$(submit -J cap-fail --wrap 'echo failing; exit 3')
C=$(submit -J cap-cancel --wrap 'sleep 600')
for j in "$T" "$R" "$G1" "$G2" "$C"; do wait_state "$j" RUNNING; done
wait_done "$F"
cap scancel-just-finished "scancel of a job that ended a moment ago (still in the controller, MinJobAge=30)" scancel "$F"
as_user scancel "$C"
wait_done "$C"

Q1=$(submit -J cap-qos --qos=limited --wrap 'sleep 600')
Q2=$(submit -J cap-qos --qos=limited --wrap 'sleep 600')
Q3=$(submit -J cap-qos --qos=limited --wrap 'sleep 600')
Q4=$(submit -J cap-qos --qos=limited --wrap 'sleep 600')
cap sbatch-reject-qos-submit-limit "5th job with --qos=limited (MaxSubmitJobsPerUser=4, MaxJobsPerUser=2) while 4 are pending/running" \
  sbatch --parsable -J cap-qos --qos=limited --wrap 'sleep 600'
P=$(submit -J cap-pending-with-a-long-name-that-is-longer-than-the-default-20-columns -N 4 --exclusive --wrap 'sleep 5')
wait_state "$P" PENDING
wait_state "$Q2" RUNNING
sleep 2  # let array/qos states settle

note "# With jobs running / pending (GPU jobs $G1 --gres=gpu:2 and $G2 --gpus=1, array $A 0-5%2, qos-limited $Q1-$Q4, pending $P)"
cap squeue-jobs-r "-r: one line per array task" squeue -h -r -u $U -O "$SQUEUE_FMT"
cap squeue-jobs "without -r: pending array tasks collapsed into one line" squeue -h -u $U -O "$SQUEUE_FMT"
cap squeue-jobarrayid-r "JobArrayID gives 8_2 style ids (JobID of a pending task is the array's id)" \
  squeue -h -r -u $U -O "JobArrayID:$S,JobID:$S,ArrayJobID:$S,ArrayTaskID:$S,State:$S"
cap squeue-jobarrayid "without -r: the pending rest of the array as 8_[2-5%2]" \
  squeue -h -u $U -O "JobArrayID:$S,JobID:$S,ArrayJobID:$S,ArrayTaskID:$S,State:$S"
cap squeue-jobs-default-o "the classic %i form for comparison" squeue -h -u $U -o "%i$S%T$S%r"
cap sinfo-nodes-busy "GPU jobs running: GresUsed non-zero" sinfo -h -N -O "$SINFO_FMT"
cap sinfo-partitions-busy "" sinfo -h -o "%R$S%a$S%D$S%C$S%G"
IDS="$T,$R,$G1,$G2,$A,$F,$C,$Q1,$Q2,$Q3,$Q4,$P"
cap sacct-busy-X "" sacct -P -n -X --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
cap sacct-busy-steps "without -X: batch/extern steps too" sacct -P -n --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
note "sacct lags the controller: right after submission jobs can be missing, or show JobName 'allocation' and State PENDING although running. The -settled captures were taken 10 s later."
sleep 10
cap sacct-busy-settled-X "" sacct -P -n -X --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
cap sacct-busy-settled-steps "" sacct -P -n --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS

# ---------------------------------------------------------------- rejected submits
note "# Rejected submissions"
cap sbatch-reject-partition "" sbatch --parsable -p nosuch --wrap true
cap sbatch-reject-account "" sbatch --parsable -A nosuch --wrap true
cap sbatch-reject-qos "" sbatch --parsable --qos=nosuch --wrap true
cap sbatch-reject-time "" sbatch --parsable --time=abc --wrap true
cap sbatch-reject-time-over-partition-max "partition cpu has MaxTime=2-00:00:00" sbatch --parsable --time=3-00:00:00 --wrap true
cap sbatch-reject-gres "" sbatch --parsable -p gpu --gres=gpu:9 --wrap true
cap sbatch-reject-gpus "" sbatch --parsable -p gpu --gpus=9 --wrap true
cap sbatch-reject-nodes "" sbatch --parsable -N 9 --wrap true
cap sbatch-reject-mem "" sbatch --parsable --mem=99999 --wrap true
cap sbatch-reject-cpus "" sbatch --parsable -c 64 --wrap true
cap sbatch-reject-array-size "MaxArraySize=1001" sbatch --parsable --array=0-2000 --wrap true
cap sbatch-test-only-ok "--test-only success (message is on stderr)" sbatch --test-only --wrap true
cap sbatch-test-only-fail "" sbatch --test-only -N 9 --wrap true

# ---------------------------------------------------------------- drained node
note "# Drained node n4"
scontrol update nodename=n4 state=drain reason=test
cap sinfo-nodes-drain "after (root) scontrol update nodename=n4 state=drain reason=test" sinfo -h -N -O "$SINFO_FMT"
cap sinfo-partitions-drain "" sinfo -h -o "%R$S%a$S%D$S%C$S%G"
scontrol update nodename=n4 state=resume

# ---------------------------------------------------------------- slurmdbd down
note "# slurmdbd stopped (slurm/cluster.sh stop-dbd)"
"$CL" stop-dbd
cap sacct-dbd-down "" sacct -P -n -X --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
cap sacctmgr-dbd-down "" sacctmgr -P -n show qos format=Name,MaxJobsPU,MaxSubmitPU,MaxTRESPU
cap sbatch-dbd-down "submitting still works while slurmdbd is down" sbatch --parsable -J cap-dbd-down --wrap true
D=$(out_of sbatch-dbd-down)
"$CL" start-dbd

# ---------------------------------------------------------------- controller down
note "# slurmctld stopped (slurm/cluster.sh stop-controller)"
"$CL" stop-controller
cap scontrol-ping-down "" scontrol ping
cap sbatch-controller-down "" sbatch --parsable --wrap true
cap squeue-controller-down "" squeue -h -u $U -O "$SQUEUE_FMT"
cap sinfo-controller-down "" sinfo -h -N -O "$SINFO_FMT"
cap scancel-controller-down "" scancel "$R"
"$CL" start-controller

# ---------------------------------------------------------------- end states
note "# Final states"
as_user scancel "$P"      # cancelled while pending
wait_done "$A"
log "waiting for job $T to hit its time limit"
wait_done "$T"
as_user scancel "$R" "$G1" "$G2" "$Q1" "$Q2" "$Q3" "$Q4"
wait_done "$R" "$G1" "$G2" "$Q1" "$Q2" "$Q3" "$Q4" "$P" "$D"
cap squeue-after-end "just-ended jobs: not listed without -t" squeue -h -u $U -O "$SQUEUE_FMT"
cap squeue-after-end-states-all "-t all: ended jobs stay visible for MinJobAge=30 s" squeue -h -u $U -t all -O "$SQUEUE_FMT"
cap squeue-just-ended-job "-j of a just-ended job (no -t)" squeue -h -j "$R" -O "$SQUEUE_FMT"
wait_sacct "$T" TIMEOUT
for j in "$R" "$G1" "$G2" "$Q4" "$P"; do wait_sacct "$j" CANCELLED; done
wait_sacct "$D" COMPLETED
IDS="$IDS,$D"
cap sacct-final-X "timeout $T, running-then-cancelled $R $G1 $G2, array $A, failed $F, cancelled $C, cancelled while pending $P" \
  sacct -P -n -X --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
cap sacct-final-steps "" sacct -P -n --delimiter="$S" -S now-1days -j "$IDS" -o $SACCT_FIELDS
cap sacct-unknown-job "a job id that never existed" sacct -P -n -X --delimiter="$S" -S now-1days -j 999999 -o $SACCT_FIELDS
# scancel of a long-finished job: wait until the controller purged it (MinJobAge=30)
for ((i = 0; i < 120; i++)); do [ -z "$(squeue -h -j "$F" -o %i 2>/dev/null)" ] && break; sleep 1; done
cap scancel-finished "scancel of job $F that ended long ago (purged from the controller)" scancel "$F"
cap squeue-finished-job "squeue -j of a purged job" squeue -h -j "$F" -O "$SQUEUE_FMT"
cap scancel-finished-verbose "-v shows the error that scancel otherwise hides (exit code is still 0)" scancel -v "$F"
cap scancel-unknown-job "a job id that never existed" scancel 999999
cap scancel-bad-id "" scancel abc

# ---------------------------------------------------------------- no accounting
note "# Cluster booted with slurm/cluster.sh up --no-accounting"
"$CL" up --no-accounting
N=$(submit -J cap-noacct --wrap true)
wait_done "$N"
cap sacct-no-accounting "" sacct -P -n -X --delimiter="$S" -S now-1days -j "$N" -o $SACCT_FIELDS
cap sacctmgr-no-accounting "" sacctmgr -P -n show qos format=Name,MaxJobsPU,MaxSubmitPU,MaxTRESPU
cap sbatch-no-accounting-qos "--qos without accounting" sbatch --parsable --qos=limited --wrap true
cap sbatch-no-accounting-account "-A without accounting" sbatch --parsable -A nosuch --wrap true
cap scontrol-show-config-no-accounting "" scontrol show config

"$CL" up
"$CL" reset
log "done: $(ls "$OUT" | wc -l) files in $OUT"
