#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (slurmctld + slurmd + munge), for testing the
# workflow's SLURM profile for real.
#
#   scripts/slurm_localhost.sh up     install (Debian, as root) if needed, configure, start, wait
#   scripts/slurm_localhost.sh down   stop the daemons (state and logs stay in the cluster folder)
#   scripts/slurm_localhost.sh env    print the `export SLURM_CONF=...` line for clients
#
# Everything lives in $MORSE_SLURM_DIR (default /tmp/morse-slurm): slurm.conf, state, spool, logs.
# /etc/slurm/slurm.conf is made a symlink to that slurm.conf, as on a real cluster where every
# node reads the standard path: Snakemake's job-step executor strips SLURM_* variables
# (SLURM_CONF included) before its inner `srun`, so a config elsewhere is not found inside jobs.
# An existing /etc/slurm/slurm.conf that is not this script's symlink is never touched.
# Exit status: 0 cluster up (or down), 3 the cluster could not be installed or started
# (an environment problem, reported as such), anything else a bug in this script.
set -euo pipefail

CLUSTER_DIR="${MORSE_SLURM_DIR:-/tmp/morse-slurm}"
CONF="$CLUSTER_DIR/slurm.conf"
SYSTEM_CONF=/etc/slurm/slurm.conf
NODE="$(hostname -s)"

infra_error() {  # the environment cannot host a cluster: say why, exit 3
    echo "slurm_localhost: $*" >&2
    exit 3
}

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && return 0
    [ "$(id -u)" = 0 ] || infra_error "slurm-wlm and munge are not installed and this is not root: \
install them with 'apt-get install slurm-wlm munge'"
    echo "slurm_localhost: installing slurm-wlm and munge (Debian packages)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge \
        >/dev/null) || infra_error "apt-get could not install slurm-wlm and munge"
}

start_munge() {
    if pgrep -x munged >/dev/null; then return 0; fi
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key \
        || infra_error "could not create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    # munged refuses to run as root; run it as its own user when that user exists
    if id munge >/dev/null 2>&1 && command -v runuser >/dev/null; then
        runuser -u munge -- munged || infra_error "munged did not start"
    else
        munged --force || infra_error "munged did not start"
    fi
    munge -n | unmunge >/dev/null || infra_error "munge does not round-trip a credential"
}

write_conf() {
    mkdir -p "$CLUSTER_DIR"/{state,spool,log}
    local cpus memory
    cpus="$(nproc)"
    # leave 1 GiB for the daemons; slurmd refuses to start if RealMemory exceeds what it sees
    memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
    memory=$((memory > 2048 ? memory - 1024 : memory))
    cat >"$CONF" <<EOF
# Written by scripts/slurm_localhost.sh: a one-node test cluster, no accounting database.
ClusterName=morsetest
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmctldPidFile=$CLUSTER_DIR/slurmctld.pid
SlurmdPidFile=$CLUSTER_DIR/slurmd.pid
SlurmctldLogFile=$CLUSTER_DIR/log/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# keep finished jobs visible to squeue: the executor then reads their final state
MinJobAge=3600
NodeName=$NODE CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

link_system_conf() {
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then return 0; fi
    [ -e "$SYSTEM_CONF" ] && infra_error "$SYSTEM_CONF exists and is not this test cluster's: \
this machine already has a SLURM configuration; run the test against that cluster instead \
(MORSE_TEST_SLURM=1 pytest -m slurm tests/slurm)"
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -s "$CONF" "$SYSTEM_CONF" || infra_error "could not link $SYSTEM_CONF to $CONF"
}

controller_answers() {
    SLURM_CONF="$CONF" timeout 10 scontrol ping 2>/dev/null | grep -q "UP"
}

wait_for_node() {
    local i state
    for i in $(seq 60); do
        state="$(SLURM_CONF="$CONF" sinfo -h -n "$NODE" -o %T 2>/dev/null || true)"
        case "$state" in idle*|mix*|alloc*) echo "slurm_localhost: node $NODE is $state"; return 0 ;; esac
        sleep 1
    done
    tail -n 20 "$CLUSTER_DIR"/log/*.log >&2 || true
    infra_error "node $NODE did not become idle in 60 s (state: '${state:-none}'); logs above"
}

up() {
    install_packages
    start_munge
    if [ -s "$CONF" ] && controller_answers; then
        echo "slurm_localhost: already running (SLURM_CONF=$CONF)"
        link_system_conf
        wait_for_node
        return 0
    fi
    write_conf
    link_system_conf
    SLURM_CONF="$CONF" slurmctld -i || infra_error "slurmctld did not start; see $CLUSTER_DIR/log"
    SLURM_CONF="$CONF" slurmd || infra_error "slurmd did not start; see $CLUSTER_DIR/log"
    wait_for_node
    echo "export SLURM_CONF=$CONF"
}

down() {
    # ask the controller to stop itself and every slurmd (pid files can name a failed duplicate)
    if [ -s "$CONF" ] && controller_answers; then
        SLURM_CONF="$CONF" scontrol shutdown >/dev/null 2>&1 || true
        local i
        for i in $(seq 20); do controller_answers || break; sleep 0.5; done
    fi
    local daemon
    for daemon in slurmd slurmctld; do
        if [ -s "$CLUSTER_DIR/$daemon.pid" ]; then
            kill "$(cat "$CLUSTER_DIR/$daemon.pid")" 2>/dev/null || true
            rm -f "$CLUSTER_DIR/$daemon.pid"
        fi
    done
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then rm -f "$SYSTEM_CONF"; fi
    echo "slurm_localhost: stopped (state and logs kept in $CLUSTER_DIR)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
