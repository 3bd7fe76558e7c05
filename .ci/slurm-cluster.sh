#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, from the distribution's packages, for CI and for
# trying `harness finetune --slurm` locally:
#
#   bash .ci/slurm-cluster.sh start    # install (apt, as root) if needed, start munged, slurmctld, slurmd
#   bash .ci/slurm-cluster.sh status   # sinfo, or why it is down
#   bash .ci/slurm-cluster.sh stop     # stop the three daemons
#
# One partition, `cpu` (the default), with this machine's cores and most of its memory. No systemd,
# no cgroups, no accounting database: the daemons run directly, processes are tracked through /proc
# (proctrack/linuxproc, task/none), and finished jobs are kept by slurmctld for an hour
# (MinJobAge) and written to a job completion file, so `scontrol show job` and `sacct` can report them.
#
# Everything lives in $SLURM_CLUSTER_DIR (default /tmp/harness-slurm): slurm.conf, state, spool,
# logs. The config is linked to /etc/slurm/slurm.conf when that is free, so `sinfo`, `sbatch` and
# `squeue` find it without anything set; otherwise export SLURM_CONF=$SLURM_CLUSTER_DIR/slurm.conf.
set -euo pipefail

DIR="${SLURM_CLUSTER_DIR:-/tmp/harness-slurm}"
CONF="$DIR/slurm.conf"
ETC_CONF=/etc/slurm/slurm.conf
MUNGE_RUN=/run/munge
export SLURM_CONF="$CONF"

die() {
  echo "slurm-cluster: $*" >&2
  exit 1
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "slurmctld, slurmd, slurm-client and munge are not installed; run this as root to install them with apt-get"
  echo "slurm-cluster: installing slurmctld slurmd slurm-client munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  mkdir -p "$MUNGE_RUN" /var/log/munge /var/lib/munge
  chown munge:munge "$MUNGE_RUN" /var/log/munge /var/lib/munge
  chmod 0755 "$MUNGE_RUN"
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  runuser -u munge -- munged
  for _ in $(seq 50); do
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  die "munged did not start; its log: $(tail -n 20 /var/log/munge/munged.log 2>/dev/null)"
}

write_config() {
  local node cpus mem_total mem
  node="$(hostname -s)"
  cpus="$(nproc)"
  mem_total="$(free -m | awk '/^Mem:/ {print $2}')"
  # A bit under the total, so slurmd never finds less memory than configured and drains the node.
  mem=$((mem_total * 9 / 10))
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF" <<EOF
# Written by .ci/slurm-cluster.sh: a one-node cluster on $node for tests and local runs.
ClusterName=harness
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups here: follow a job's processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# No slurmdbd: finished jobs stay in slurmctld for an hour and go to a completion file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -L "$ETC_CONF" ] || [ ! -e "$ETC_CONF" ]; then
    if mkdir -p "$(dirname "$ETC_CONF")" 2>/dev/null && ln -sfn "$CONF" "$ETC_CONF" 2>/dev/null; then return; fi
  fi
  echo "slurm-cluster: $ETC_CONF belongs to another setup; export SLURM_CONF=$CONF to use this cluster" >&2
}

pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

show_logs() {
  for log in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
    echo "--- last lines of $log" >&2
    tail -n 25 "$log" >&2 2>/dev/null || echo "(none)" >&2
  done
}

wait_idle() {
  local deadline=$((SECONDS + ${SLURM_CLUSTER_TIMEOUT:-60})) state=""
  while [ $SECONDS -lt $deadline ]; do
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)"
    case "$state" in
    idle | mixed | allocated) return 0 ;;
    esac
    sleep 0.5
  done
  echo "slurm-cluster: the node is not idle after ${SLURM_CLUSTER_TIMEOUT:-60}s (sinfo says: ${state:-nothing})" >&2
  show_logs
  return 1
}

start() {
  install_packages
  if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
    echo "slurm-cluster: already running ($CONF)"
    wait_idle
    return
  fi
  stop_daemons
  start_munge
  write_config
  # -c: a clean start, no jobs from an earlier cluster in this directory.
  slurmctld -c || {
    show_logs
    die "slurmctld did not start"
  }
  slurmd || {
    show_logs
    die "slurmd did not start"
  }
  wait_idle || die "start failed"
  echo "slurm-cluster: up: partition cpu on $(hostname -s), $(nproc) CPUs ($CONF)"
}

stop_pidfile() {
  local file="$1" pid
  pid_alive "$file" || return 0
  pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop_daemons() {
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
}

stop() {
  stop_daemons
  # munged is left running: it is shared, and cheap.
  if [ -L "$ETC_CONF" ] && [ "$(readlink "$ETC_CONF")" = "$CONF" ]; then rm -f "$ETC_CONF"; fi
  echo "slurm-cluster: stopped"
}

status() {
  if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
    sinfo
  else
    echo "slurm-cluster: not running (start it with: bash .ci/slurm-cluster.sh start)" >&2
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
  echo "usage: $0 start|stop|status   (state in \$SLURM_CLUSTER_DIR, default /tmp/harness-slurm)" >&2
  exit 2
  ;;
esac
