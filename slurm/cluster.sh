#!/usr/bin/env bash
# sluice's bundled single-host Slurm test cluster.
#
#   slurm/cluster.sh up [--no-accounting]   install (if needed), configure, start, wait until ready
#   slurm/cluster.sh down                   stop the daemons this script started
#   slurm/cluster.sh status                 show what runs (exit 0 if up, 1 if not)
#   slurm/cluster.sh env                    print exports for: eval "$(slurm/cluster.sh env)"
#   slurm/cluster.sh stop-controller | start-controller
#   slurm/cluster.sh stop-dbd | start-dbd
#   slurm/cluster.sh set KEY=VALUE [KEY=VALUE...]   change slurm.conf settings and apply them
#   slurm/cluster.sh reset                  undo `set`, cancel all jobs, resume all nodes
#
# Everything (config, state, spool, logs, pid files, fake GPU devices) lives in
# ${SLUICE_SLURM_DIR:-/run/sluice-slurm}. Nothing is written to /etc/slurm.
# Must run as root. See slurm/README.md.

set -uo pipefail

DIR=${SLUICE_SLURM_DIR:-/run/sluice-slurm}
DIR=${DIR%/}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

CLUSTER=sluice
NODES=(n1 n2 n3 n4)
GPU_NODES="n[1-2]"
NODE_PORT_BASE=${SLUICE_SLURMD_PORT_BASE:-17000}  # n1 -> 17001 ... n4 -> 17004
CTLD_PORT=${SLUICE_SLURMCTLD_PORT:-16817}
DBD_PORT=${SLUICE_SLURMDBD_PORT:-16819}
TEST_USER=sluicetest
DB_NAME=sluice_slurm_acct_db
DB_USER=sluice_slurm
READY_TIMEOUT=${SLUICE_SLURM_READY_TIMEOUT:-60}

SBIN=/usr/sbin

log() { echo "cluster.sh: $*" >&2; }
die() { echo "cluster.sh: error: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# ---------------------------------------------------------------- processes

# pid_of FILE COMM [CMDLINE-SUBSTRING] -> prints pid if the process recorded in
# FILE is alive and really is COMM (guards against pid reuse).
pid_of() {
  local file=$1 comm=$2 want=${3:-} pid
  [ -r "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  if [ -n "$want" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want" || return 1
  fi
  echo "$pid"
}

# stop_pid NAME PID: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    [ -d "/proc/$pid" ] || { log "stopped $name (pid $pid)"; return 0; }
    # a zombie counts as gone
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && { log "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null
  sleep 0.2
}

ctld_pid() { pid_of "$DIR/run/slurmctld.pid" slurmctld; }
dbd_pid() { pid_of "$DIR/run/slurmdbd.pid" slurmdbd; }
slurmd_pid() { pid_of "$DIR/run/slurmd-$1.pid" slurmd "-N $1"; }
munged_pid() { pid_of "$DIR/run/munged.pid" munged; }
mariadb_pid() { pid_of /run/mysqld/mysqld.pid mariadbd || pid_of /run/mysqld/mysqld.pid mysqld; }

mode() { cat "$DIR/mode" 2>/dev/null || echo none-recorded; }

# ---------------------------------------------------------------- install

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

ensure_packages() {
  local accounting=$1 p missing=()
  local pkgs=(slurmctld slurmd slurm-client munge)
  [ "$accounting" = yes ] && pkgs+=(slurmdbd mariadb-server)
  for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  # Keep package scripts from starting daemons (no systemd here; we start
  # everything ourselves from the runtime dir).
  local policy=/usr/sbin/policy-rc.d own_policy=no
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && own_policy=yes
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0
  if ! apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    apt-get update </dev/null || true
    apt-get install -y --no-install-recommends "${missing[@]}" </dev/null || rc=$?
  fi
  [ $own_policy = yes ] && rm -f $policy
  [ $rc -eq 0 ] || die "apt-get install failed (rc=$rc)"
  return 0
}

ensure_test_user() {
  id -u "$TEST_USER" >/dev/null 2>&1 && return 0
  log "creating unix user $TEST_USER"
  useradd -m -s /bin/bash "$TEST_USER" || die "useradd $TEST_USER failed"
}

# ---------------------------------------------------------------- config

base_settings() {
  local accounting=$1
  cat <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
DefMemPerCPU=500
EnforcePartLimits=ALL
MailProg=/bin/true
MinJobAge=30
MaxJobCount=50000
MaxArraySize=1001
MessageTimeout=10
KillWait=5
InactiveLimit=0
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
EOF
  if [ "$accounting" = yes ]; then
    cat <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
EOF
  else
    cat <<EOF
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
EOF
  fi
}

# settings with `set` overrides applied (same key replaced, new keys appended)
effective_settings() {
  local accounting=$1
  awk -F= '
    NR == FNR { if ($0 ~ /=/) { k = tolower($1); ov[k] = $0; order[++n] = k }; next }
    { k = tolower($1); if (k in ov) { if (!(k in done)) print ov[k]; done[k] = 1 } else print }
    END { for (i = 1; i <= n; i++) if (!(order[i] in done)) { print ov[order[i]]; done[order[i]] = 1 } }
  ' <(cat "$DIR/overrides" 2>/dev/null) <(base_settings "$accounting")
}

gen_slurm_conf() {
  local accounting=$1 i
  echo "# generated by slurm/cluster.sh ($( [ "$accounting" = yes ] && echo accounting || echo no-accounting) mode); edit with: cluster.sh set KEY=VALUE"
  effective_settings "$accounting"
  echo
  for i in 1 2 3 4; do
    local gres=""
    [ $i -le 2 ] && gres=" Gres=gpu:4"
    echo "NodeName=n$i NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((NODE_PORT_BASE + i)) CPUs=4 RealMemory=4000$gres State=UNKNOWN"
  done
  echo "PartitionName=cpu Nodes=n[1-4] Default=YES DefaultTime=01:00:00 MaxTime=2-00:00:00 State=UP"
  echo "PartitionName=gpu Nodes=$GPU_NODES DefaultTime=01:00:00 MaxTime=1-00:00:00 State=UP"
}

gen_gres_conf() {
  echo "# generated by slurm/cluster.sh: fake GPUs (char devices on major 195, never opened)"
  echo "AutoDetect=off"
  echo "NodeName=$GPU_NODES Name=gpu File=$DIR/dev/nvidia[0-3]"
}

db_pass() {
  if [ ! -s "$DIR/.dbpass" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/.dbpass")
  fi
  cat "$DIR/.dbpass"
}

gen_slurmdbd_conf() {
  cat <<EOF
# generated by slurm/cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$(db_pass)
EOF
}

FRESH=no
make_dirs() {
  [ -d "$DIR/state" ] || FRESH=yes
  mkdir -p "$DIR" "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log" "$DIR/dev" "$DIR/scratch"
  chmod 755 "$DIR" "$DIR/spool" "$DIR/run" "$DIR/log" "$DIR/dev"
  chmod 700 "$DIR/state"
  chmod 1777 "$DIR/scratch"
  local n
  for n in "${NODES[@]}"; do mkdir -p "$DIR/spool/slurmd-$n"; done
  local i
  for i in 0 1 2 3; do
    # major 195 is NVIDIA's; unused on this host (no driver). Never /dev/null's 1:3.
    if [ ! -c "$DIR/dev/nvidia$i" ]; then
      rm -f "$DIR/dev/nvidia$i"
      mknod -m 666 "$DIR/dev/nvidia$i" c 195 "$i" || die "mknod $DIR/dev/nvidia$i failed"
    fi
  done
  [ -e "$DIR/plugstack.conf" ] || : >"$DIR/plugstack.conf"
  [ -e "$DIR/overrides" ] || : >"$DIR/overrides"
}

# write_if_changed FILE MODE CONTENT-GENERATOR... ; returns 0 if content changed
write_if_changed() {
  local file=$1 perm=$2 tmp
  shift 2
  tmp=$(mktemp "$file.XXXXXX")
  "$@" >"$tmp"
  chmod "$perm" "$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
  return 0
}

# ---------------------------------------------------------------- munge

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munge() {
  if munge_works; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key || die "mungekey failed"
    else
      create-munge-key -f || die "create-munge-key failed"
    fi
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  rm -f /run/munge/munged.pid
  log "starting munged"
  runuser -u munge -- $SBIN/munged </dev/null || die "munged failed to start (see /var/log/munge/munged.log)"
  local i
  for ((i = 0; i < 50; i++)); do
    if munge_works; then
      cp /run/munge/munged.pid "$DIR/run/munged.pid" 2>/dev/null
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 /var/log/munge/munged.log >&2 2>/dev/null
  die "munged does not answer"
}

# ---------------------------------------------------------------- mariadb + slurmdbd

mysql_root() { mysql --protocol=socket -u root "$@"; }
mariadb_alive() { mysqladmin --protocol=socket -u root ping >/dev/null 2>&1; }

ensure_mariadb() {
  mariadb_alive && return 0
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [ -x /etc/init.d/mariadb ]; then
    setsid /etc/init.d/mariadb start </dev/null >"$DIR/log/mariadb-start.log" 2>&1
  else
    (setsid /usr/bin/mysqld_safe </dev/null >"$DIR/log/mariadb-start.log" 2>&1 &)
  fi
  local i
  for ((i = 0; i < 300; i++)); do
    if mariadb_alive; then
      touch "$DIR/run/mariadb.started-by-cluster-sh"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$DIR/log/mariadb-start.log" /var/log/mysql/error.log >&2 2>/dev/null
  die "MariaDB did not start"
}

ensure_db_user() {
  local pass
  pass=$(db_pass)
  if [ $FRESH = yes ] && ! dbd_pid >/dev/null; then
    # New runtime dir = new cluster: forget jobs recorded by an earlier one
    # (job ids restart at 1 and would collide in sacct).
    mysql_root -e "DROP DATABASE IF EXISTS \`$DB_NAME\`" || die "could not reset database $DB_NAME"
  fi
  mysql_root <<EOF || die "could not create the slurmdbd database user"
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF
}

dbd_answers() { timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

start_dbd() {
  if dbd_pid >/dev/null; then return 0; fi
  log "starting slurmdbd"
  $SBIN/slurmdbd </dev/null >>"$DIR/log/slurmdbd.stdout" 2>&1 || {
    tail -n 20 "$DIR/log/slurmdbd.log" >&2 2>/dev/null
    die "slurmdbd failed to start"
  }
  local i
  for ((i = 0; i < 60; i++)); do
    if dbd_pid >/dev/null && dbd_answers; then return 0; fi
    if ! dbd_pid >/dev/null && [ $i -gt 20 ]; then break; fi
    sleep 0.5
  done
  tail -n 30 "$DIR/log/slurmdbd.log" >&2 2>/dev/null
  die "slurmdbd does not answer (log: $DIR/log/slurmdbd.log)"
}

stop_dbd() {
  local pid
  pid=$(dbd_pid) && stop_pid slurmdbd "$pid"
  rm -f "$DIR/run/slurmdbd.pid"
}

sacctmgr_i() { sacctmgr -i "$@" >/dev/null 2>&1; }

setup_accounting() {
  local out
  out=$(sacctmgr -n -P show cluster format=cluster 2>/dev/null)
  grep -qx "$CLUSTER" <<<"$out" || sacctmgr -i add cluster "$CLUSTER" >/dev/null ||
    die "sacctmgr add cluster $CLUSTER failed"
  out=$(sacctmgr -n -P show qos format=name 2>/dev/null)
  grep -qx normal <<<"$out" || sacctmgr -i add qos normal >/dev/null || die "add qos normal failed"
  grep -qx limited <<<"$out" || sacctmgr -i add qos limited >/dev/null || die "add qos limited failed"
  sacctmgr_i modify qos where name=limited set MaxJobsPerUser=2 MaxSubmitJobsPerUser=4
  out=$(sacctmgr -n -P show account format=account 2>/dev/null)
  grep -qx research <<<"$out" ||
    sacctmgr -i add account research cluster="$CLUSTER" description="sluice tests" organization=sluice >/dev/null ||
    die "add account research failed"
  sacctmgr_i modify account where name=research cluster="$CLUSTER" set qos=normal,limited defaultqos=normal
  local u
  for u in root "$TEST_USER"; do
    out=$(sacctmgr -n -P show assoc where cluster="$CLUSTER" account=research user="$u" format=user 2>/dev/null)
    grep -qx "$u" <<<"$out" ||
      sacctmgr -i add user "$u" account=research cluster="$CLUSTER" >/dev/null || die "add user $u failed"
    sacctmgr_i modify user where name="$u" set defaultaccount=research
    sacctmgr_i modify user where name="$u" cluster="$CLUSTER" account=research set qos=normal,limited defaultqos=normal
  done
  # verify
  out=$(sacctmgr -n -P show assoc where cluster="$CLUSTER" account=research user="$TEST_USER" format=qos 2>/dev/null)
  grep -q limited <<<"$out" || die "accounting setup incomplete (assoc qos: '$out')"
  out=$(sacctmgr -n -P show qos where name=limited format=MaxJobsPU,MaxSubmitPU 2>/dev/null)
  [ "$out" = "2|4" ] || die "qos limited has unexpected limits: '$out'"
}

# ---------------------------------------------------------------- slurmctld / slurmd

ctld_answers() { timeout 15 scontrol ping 2>/dev/null | grep -q 'is UP'; }

tail_logs() {
  local f
  for f in "$DIR/log/slurmctld.log" "$DIR"/log/slurmd-n*.log "$DIR/log/slurmdbd.log"; do
    [ -s "$f" ] || continue
    echo "----- tail $f" >&2
    case $f in *slurmd-n*) tail -n 5 "$f" >&2 ;; *) tail -n 20 "$f" >&2 ;; esac
  done
}

start_ctld() {
  if ctld_pid >/dev/null; then return 0; fi
  log "starting slurmctld"
  $SBIN/slurmctld -f "$CONF" </dev/null >>"$DIR/log/slurmctld.stdout" 2>&1 || {
    tail_logs
    die "slurmctld failed to start"
  }
  local i
  for ((i = 0; i < 60; i++)); do
    ctld_answers && return 0
    if ! ctld_pid >/dev/null && [ $i -gt 10 ]; then break; fi
    sleep 0.5
  done
  tail_logs
  die "slurmctld does not answer (log: $DIR/log/slurmctld.log)"
}

stop_ctld() {
  local pid
  pid=$(ctld_pid) && stop_pid slurmctld "$pid"
  rm -f "$DIR/run/slurmctld.pid"
}

start_slurmds() {
  local n
  for n in "${NODES[@]}"; do
    slurmd_pid "$n" >/dev/null && continue
    log "starting slurmd -N $n"
    $SBIN/slurmd -N "$n" -f "$CONF" </dev/null >>"$DIR/log/slurmd-$n.stdout" 2>&1 || {
      tail_logs
      die "slurmd -N $n failed to start"
    }
  done
}

stop_slurmds() {
  local n pid
  for n in "${NODES[@]}"; do
    pid=$(slurmd_pid "$n") && stop_pid "slurmd $n" "$pid"
    rm -f "$DIR/run/slurmd-$n.pid"
  done
}

# slurmstepd processes of this cluster (they keep the slurmd log under $DIR open)
our_stepds() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    if ls -l "$p/fd" 2>/dev/null | grep -q -- "-> $DIR/"; then echo "${p#/proc/}"; fi
  done
}

# node states, one "name state" line per node
node_states() { timeout 15 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u; }

# every node registered and usable (idle/mix/alloc/...; not down, unknown or not responding)
nodes_ready() {
  local states n=0 name st
  states=$(node_states) || return 1
  while read -r name st; do
    [ -n "$name" ] || continue
    case $st in
      *'*'* | down* | unk* | fail* | futr* | inval* | boot* | npc* | pow* | maint*) return 1 ;;
    esac
    n=$((n + 1))
  done <<<"$states"
  [ $n -eq ${#NODES[@]} ]
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    nodes_ready && return 0
    sleep 0.25
  done
  echo "node states:" >&2
  node_states >&2
  tail_logs
  die "nodes not ready after ${READY_TIMEOUT}s"
}

# ---------------------------------------------------------------- verbs

write_configs() {
  local accounting=$1 changed=1
  write_if_changed "$CONF" 644 gen_slurm_conf "$accounting" && changed=0
  write_if_changed "$DIR/gres.conf" 644 gen_gres_conf && changed=0
  if [ "$accounting" = yes ]; then
    write_if_changed "$DIR/slurmdbd.conf" 600 gen_slurmdbd_conf && changed=0
    chown root:root "$DIR/slurmdbd.conf"
  fi
  return $changed
}

cmd_up() {
  local accounting=yes
  while [ $# -gt 0 ]; do
    case $1 in
      --no-accounting) accounting=no ;;
      --accounting) accounting=yes ;;
      *) die "up: unknown option $1" ;;
    esac
    shift
  done
  need_root
  local t0=$SECONDS want_mode
  want_mode=$([ $accounting = yes ] && echo accounting || echo no-accounting)
  ensure_packages $accounting
  ensure_test_user
  make_dirs

  # Fast path / mode switch: if daemons run with another mode or config, restart them.
  local old_mode
  old_mode=$(mode)
  if write_configs $accounting || [ "$old_mode" != "$want_mode" ]; then
    if ctld_pid >/dev/null || [ -n "$(ls "$DIR"/run/slurmd-*.pid 2>/dev/null)" ]; then
      log "configuration or mode changed ($old_mode -> $want_mode): restarting slurm daemons"
      stop_slurmds
      stop_ctld
    fi
    if [ $accounting = no ]; then stop_dbd; fi
    if [ $accounting = yes ] && dbd_pid >/dev/null; then stop_dbd; fi
    rm -f "$DIR/run/accounting.ready"
  fi
  echo "$want_mode" >"$DIR/mode"

  ensure_munge
  if [ $accounting = yes ]; then
    # MariaDB may have died under a running slurmdbd: always make sure it answers.
    ensure_mariadb
    if ! dbd_pid >/dev/null || [ ! -e "$DIR/run/accounting.ready" ]; then
      ensure_db_user
      start_dbd
      setup_accounting
      touch "$DIR/run/accounting.ready"
    fi
  fi
  start_ctld
  start_slurmds
  wait_ready
  log "cluster '$CLUSTER' is up ($want_mode) in $((SECONDS - t0))s; use: eval \"\$($0 env)\""
}

cmd_down() {
  need_root
  local pid
  # Cancel jobs first so their slurmstepd processes end cleanly.
  if ctld_pid >/dev/null && [ -n "$(timeout 15 squeue -h -o %A 2>/dev/null)" ]; then
    log "cancelling all jobs"
    timeout 15 squeue -h -o %A 2>/dev/null | xargs -r timeout 15 scancel 2>/dev/null
    local i
    for ((i = 0; i < 100; i++)); do
      [ -z "$(our_stepds)" ] && break
      sleep 0.1
    done
  fi
  stop_slurmds
  stop_ctld
  stop_dbd
  for pid in $(our_stepds); do stop_pid slurmstepd "$pid"; done
  if pid=$(munged_pid); then stop_pid munged "$pid"; fi
  rm -f "$DIR/run/munged.pid"
  if [ -e "$DIR/run/mariadb.started-by-cluster-sh" ]; then
    if mariadb_alive; then
      log "stopping MariaDB (started by cluster.sh)"
      if [ -x /etc/init.d/mariadb ]; then
        /etc/init.d/mariadb stop </dev/null >>"$DIR/log/mariadb-start.log" 2>&1
      elif pid=$(mariadb_pid); then
        stop_pid mariadb "$pid"
      fi
    fi
    rm -f "$DIR/run/mariadb.started-by-cluster-sh"
  fi
  rm -f "$DIR/run/accounting.ready"
  return 0
}

cmd_status() {
  local up=0 pid m
  m=$(mode)
  echo "runtime dir: $DIR"
  echo "mode: $m"
  [ -d "$DIR" ] || { echo "not configured"; return 1; }
  show() { # name pid-or-empty required(yes/no) note
    if [ -n "$2" ]; then
      printf '%-12s running (pid %s)%s\n' "$1" "$2" "${4:+ $4}"
    else
      printf '%-12s not running%s\n' "$1" "${4:+ $4}"
      [ "$3" = yes ] && up=1
    fi
  }
  if pid=$(munged_pid); then show munged "$pid" yes "[started by cluster.sh]"
  elif munge_works; then show munged external yes "[not started by cluster.sh]"
  else show munged "" yes; fi
  if [ "$m" = accounting ]; then
    local note="[not started by cluster.sh]"
    [ -e "$DIR/run/mariadb.started-by-cluster-sh" ] && note="[started by cluster.sh]"
    if mariadb_alive; then show mariadb "$(mariadb_pid || echo '?')" yes "$note"; else show mariadb "" yes; fi
    show slurmdbd "$(dbd_pid)" yes
  fi
  show slurmctld "$(ctld_pid)" yes
  local n
  for n in "${NODES[@]}"; do show "slurmd $n" "$(slurmd_pid "$n")" yes; done
  if ctld_pid >/dev/null; then
    echo "nodes:"
    node_states | sed 's/^/  /'
  fi
  [ $up -eq 0 ] && [ "$m" != none-recorded ] && echo "cluster is up" && return 0
  echo "cluster is not (fully) up"
  return 1
}

cmd_env() {
  echo "export SLURM_CONF=$CONF"
  echo "export SLUICE_SLURM_DIR=$DIR"
}

require_configured() {
  [ -f "$CONF" ] && [ -f "$DIR/mode" ] || die "cluster not configured; run: $0 up"
}

cmd_start_controller() {
  need_root
  require_configured
  ensure_munge
  start_ctld
  start_slurmds
  wait_ready
}

cmd_start_dbd() {
  need_root
  require_configured
  [ "$(mode)" = accounting ] || die "cluster runs with --no-accounting; no slurmdbd"
  ensure_munge
  ensure_mariadb
  start_dbd
}

# show_config_value KEY -> value as printed by `scontrol show config` (empty if absent)
show_config_value() {
  timeout 15 scontrol show config 2>/dev/null |
    awk -v k="$1" 'BEGIN { k = tolower(k) } { key = tolower($1) } key == k { sub(/^[^=]*= */, ""); print; exit }'
}

# value_matches SHOWN WANTED: "5 sec" matches "5"; case-insensitive
value_matches() {
  local shown=${1,,} want=${2,,}
  [ "$shown" = "$want" ] || [ "${shown%% *}" = "$want" ] || [ "${shown% sec}" = "$want" ]
}

# apply_config KEY=WANTED...: reconfigure, fall back to a controller restart,
# and wait until every given key shows its wanted value ("!V" = anything but V).
apply_config() {
  local accounting=no
  [ "$(mode)" = accounting ] && accounting=yes
  write_configs $accounting
  ctld_pid >/dev/null || { log "slurmctld not running; settings apply at next start"; return 0; }
  local attempts="reconfigure restart"
  if ! timeout 30 scontrol reconfigure; then
    log "scontrol reconfigure refused the change; restarting slurmctld and slurmd"
    stop_slurmds
    stop_ctld
    start_ctld
    start_slurmds
    attempts=restart
  fi
  local attempt kv key want shown ok
  for attempt in $attempts; do
    local deadline=$((SECONDS + 10))
    while :; do
      ok=yes
      for kv in "$@"; do
        key=${kv%%=*} want=${kv#*=}
        shown=$(show_config_value "$key")
        if [ "${want:0:1}" = '!' ]; then
          value_matches "$shown" "${want:1}" && ok=no
        elif [ -n "$shown" ] || timeout 15 scontrol show config 2>/dev/null | grep -qi "^$key "; then
          value_matches "$shown" "$want" || ok=no
        fi
      done
      [ $ok = yes ] && break
      ((SECONDS < deadline)) || break
      sleep 0.5
    done
    [ $ok = yes ] && break
    [ $attempt = restart ] && break
    log "reconfigure did not apply the change; restarting slurmctld and slurmd"
    stop_slurmds
    stop_ctld
    start_ctld
    start_slurmds
  done
  wait_ready
  [ $ok = yes ] || die "setting(s) not effective after restart: $*"
}

cmd_set() {
  need_root
  require_configured
  [ $# -gt 0 ] || die "usage: $0 set KEY=VALUE [KEY=VALUE...]"
  local kv key checks=()
  for kv in "$@"; do
    [[ $kv == *=* ]] || die "set: expected KEY=VALUE, got '$kv'"
    key=${kv%%=*}
    [[ $key =~ ^[A-Za-z]+$ ]] || die "set: bad key '$key'"
    case ${key,,} in nodename | partitionname | nodeset | include) die "set: $key lines cannot be changed with set" ;; esac
    # replace any earlier override of the same key
    grep -vi "^$key=" "$DIR/overrides" >"$DIR/overrides.tmp"
    echo "$kv" >>"$DIR/overrides.tmp"
    mv -f "$DIR/overrides.tmp" "$DIR/overrides"
    checks+=("$key=${kv#*=}")
  done
  apply_config "${checks[@]}"
  log "applied: $*"
}

cmd_reset() {
  need_root
  require_configured
  local accounting=no checks=() line key def
  [ "$(mode)" = accounting ] && accounting=yes
  # 1. restore settings changed by `set`
  if [ -s "$DIR/overrides" ]; then
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      key=${line%%=*}
      def=$(base_settings $accounting | grep -i "^$key=" | head -n1)
      if [ -n "$def" ]; then checks+=("$key=${def#*=}"); else checks+=("$key=!${line#*=}"); fi
    done <"$DIR/overrides"
    : >"$DIR/overrides"
    apply_config "${checks[@]}"
  fi
  ctld_pid >/dev/null || die "slurmctld is not running (start-controller first)"
  # 2. cancel all jobs
  local ids i
  ids=$(timeout 15 squeue -h -o %A 2>/dev/null)
  if [ -n "$ids" ]; then
    echo "$ids" | xargs -r timeout 15 scancel
    for ((i = 0; i < 120; i++)); do
      [ -z "$(timeout 15 squeue -h -t PD,R,CG,S,CF -o %A 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
  # 3. resume all nodes that are drained/down
  local name st
  while read -r name st; do
    case $st in
      drain* | drng* | down* | fail*) timeout 15 scontrol update nodename="$name" state=resume || true ;;
    esac
  done < <(node_states)
  # 4. restore QOS limits tests may have changed
  if [ $accounting = yes ] && dbd_pid >/dev/null; then
    sacctmgr_i modify qos where name=limited set MaxJobsPerUser=2 MaxSubmitJobsPerUser=4
  fi
  # wait until all nodes are idle
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    [ -z "$(node_states | awk '$2 != "idle"')" ] && return 0
    sleep 0.25
  done
  node_states >&2
  die "nodes not idle after reset"
}

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

verb=${1:-}
[ $# -gt 0 ] && shift
case $verb in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  stop-controller) need_root; stop_ctld ;;
  start-controller) cmd_start_controller ;;
  stop-dbd) need_root; stop_dbd ;;
  start-dbd) cmd_start_dbd ;;
  set) cmd_set "$@" ;;
  reset) cmd_reset ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
