#!/usr/bin/env bash
# Shards and merge on a real Slurm: a private single-node cluster on localhost (munged, slurmctld
# and slurmd started here, stopped on exit), the 4-task array of examples/slurm/array.sbatch and
# the merge of examples/slurm/merge.sbatch, checked against one unsharded run of the same
# ensemble: chains.csv and events.csv byte for byte, summary.json equal but for the fields that
# legitimately differ. tests/shards.rs checks the same equality without Slurm; this checks the
# Slurm plumbing (array indices, environment, working directory, logs, the dependency).
#
#   bash scripts/slurm-check.sh [ESCAPADE]
#
# ESCAPADE (argument or environment): the escapade binary; default: `cargo build --release` and
# ${CARGO_TARGET_DIR:-target}/release/escapade. Installs slurm-wlm, munge and jq with apt when
# they are missing (sudo when not root). Everything else lives in temporary directories, with
# its own munge key and socket and its own ports (SLURM_CHECK_PORT, default 16817 and the next),
# so an existing Slurm or munge on the machine is neither used nor disturbed. The run directory
# is removed on success and kept (its path printed) on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

say() { echo "slurm-check: $*"; }
fail() { echo "slurm-check: FAILED: $*" >&2; exit 1; }

# --- Packages (only when missing: CI images and developer machines may have them already).
# The daemons live in sbin, which a non-root PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
missing=0
for c in munged mungekey slurmctld slurmd sbatch sinfo jq; do
    command -v "$c" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
    say "installing slurm-wlm, munge and jq"
    # Without package lists (a fresh container) the install fails: update first, once.
    $SUDO apt-get install -y --no-install-recommends slurm-wlm munge jq \
        || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends slurm-wlm munge jq; }
fi

# --- The binary.
ESCAPADE=${1:-${ESCAPADE:-}}
if [ -z "$ESCAPADE" ]; then
    # A no-op when `cargo test --release` already built it.
    cargo build --release --bin escapade
    ESCAPADE=${CARGO_TARGET_DIR:-$REPO/target}/release/escapade
fi
[ -x "$ESCAPADE" ] || fail "no escapade binary at $ESCAPADE (pass its path, or set ESCAPADE)"
# Jobs run in the submission directory, but an absolute path does not depend on it.
ESCAPADE=$(cd "$(dirname "$ESCAPADE")" && pwd)/$(basename "$ESCAPADE")
export ESCAPADE

# --- Directories.
# RUN: ours (the experiment, the jobs' outputs and logs; jobs run as this user). STATE: the
# daemons' (root's: munged refuses a socket or key in a directory another user owns).
RUN=$(mktemp -d "${TMPDIR:-/tmp}/escapade-slurm-run.XXXXXX")
STATE=$($SUDO mktemp -d /tmp/escapade-slurm-state.XXXXXX)
$SUDO chmod 755 "$STATE"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR=$RUN/xdg
    mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

# --- Teardown: on every exit, success or not.
PIDS=()        # munged, slurmctld, slurmd, in start order (stopped in reverse)
OK=0
dump_logs() {
    if [ -n "${SLURM_CONF:-}" ]; then
        echo "----- jobs (state, exit code)" >&2
        scontrol -o show job 2>/dev/null | awk '{ s = ""; for (i = 1; i <= NF; i++)
            if ($i ~ /^(JobId|ArrayJobId|ArrayTaskId|JobName|JobState|ExitCode)=/) s = s " " $i; print s }' >&2
    fi
    for f in "$STATE"/*.log "$RUN"/logs/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        $SUDO tail -n 40 "$f" >&2 || true
    done
}
cleanup() {
    local rc=$?
    set +e
    if [ "$OK" != 1 ]; then dump_logs; fi
    # Cancel whatever is still queued or running (a failed check can leave tasks behind), so no
    # slurmstepd outlives slurmd.
    if [ -n "${SLURM_CONF:-}" ] && [ "${#PIDS[@]}" -ge 2 ]; then
        scancel --quiet --user="$(id -un)" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
        # slurmstepd (one per job, outside slurmd's process) removes its socket from the spool
        # when it exits.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ -z "$($SUDO find "$STATE/slurmd" -type s 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    local i pid
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        $SUDO kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do $SUDO kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if $SUDO kill -0 "$pid" 2>/dev/null; then
            echo "slurm-check: pid $pid did not stop on SIGTERM; killing it" >&2
            $SUDO kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    $SUDO rm -rf "$STATE"
    if [ "$OK" = 1 ]; then rm -rf "$RUN"; else echo "slurm-check: outputs kept in $RUN" >&2; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "slurm-check: interrupted" >&2; exit 130' INT TERM

# --- munge: a private key and socket.
$SUDO mungekey --create --keyfile="$STATE/munge.key"
# -F: in the foreground, so $! is munged itself (no pid file to trust) and the trap can stop it.
$SUDO munged -F --key-file="$STATE/munge.key" --socket="$STATE/munge.socket" \
    --pid-file="$STATE/munged.pid" --log-file="$STATE/munged.log" --seed-file="$STATE/munged.seed" \
    >"$RUN/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$STATE/munge.socket" ] && break; sleep 0.1; done
[ -S "$STATE/munge.socket" ] || fail "munged did not start"

# --- slurm.conf: one node, localhost.
# The node's hardware exactly as slurmd detects it (CPUs, sockets, cores, RealMemory), so the node
# is not drained for claiming more than it has.
HW=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
PORT=${SLURM_CHECK_PORT:-16817}
export SLURM_CONF=$STATE/slurm.conf
$SUDO tee "$SLURM_CONF" >/dev/null <<EOF
ClusterName=escapade-check
# "localhost" is the controller's and the node's name whatever the machine's hostname is
# (slurmd is told its name with -N).
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge.socket
# No cgroups (containers, CI runners): processes tracked through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
# Cores, not memory, as the consumable resource: tracking memory without DefMemPerCPU gives each
# job the whole node's memory, and the array's tasks would run one at a time.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# A node that was down comes back as soon as it registers.
ReturnToService=2
# sbatch --wait polls every 2 s only while that is under MinJobAge/2 (with the default 300 it
# sleeps 2 s, then 8 s, then 32 s); 0 is refused ("must be at least 2"). 5 s still keeps the
# array's record for the merge's afterok, submitted within 2 s of the array's end.
MinJobAge=5
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=check Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
$SUDO mkdir -p "$STATE/ctld" "$STATE/slurmd"

# --- The daemons: in the foreground (-D) in the background of this shell, state cleared (-c).
$SUDO slurmctld -D -c -f "$SLURM_CONF" >"$RUN/slurmctld.out" 2>&1 &
PIDS+=($!)
$SUDO slurmd -D -c -N localhost -f "$SLURM_CONF" >"$RUN/slurmd.out" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 1 60); do
    state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || { cat "$RUN"/*.out >&2; fail "the node is not idle after 30 s (state: '${state:-no answer}')"; }
say "single-node Slurm up: $(sinfo -h -o '%P %D %c %t')"

# --- The ensemble: small and on the CPU backend.
# backend = "cpu": the point here is the Slurm plumbing, and the CPU is the backend every CI machine
# has (the GPU path on shards is compared in tests/shards.rs); it also keeps the GPU-only
# bookkeeping in summary.json (dispatches, steps_per_dispatch, adapter) equal across runs.
# 4001 chains do not split evenly in 4; about 6 escape events per chain; ~1 s of CPU in all.
cat >"$RUN/experiment.toml" <<'EOF'
objective = "octopus"
dim = 5
method = "pgd"
chains = 4001
steps = 2000
seed = 7
init = "uniform:1"
state = "f64"
backend = "cpu"
EOF
export ESCAPADE_EXPERIMENT=$RUN/experiment.toml ESCAPADE_OUT=$RUN/out
mkdir -p "$ESCAPADE_OUT" "$RUN/logs"

# The shards: the array job, waited for (its status is the worst task's). The --output options
# replace the scripts' #SBATCH --output, which point into out/octopus.
say "sbatch --wait --array=0-3 examples/slurm/array.sbatch"
job=$(sbatch --wait --parsable --array=0-3 --output="$RUN/logs/slurm-%A_%a.log" examples/slurm/array.sbatch) \
    || fail "the array job failed (logs below)"
job=${job%%;*}
# The merge, as documented: after the array, through the dependency.
say "sbatch --wait --dependency=afterok:$job examples/slurm/merge.sbatch"
sbatch --wait --parsable --dependency=afterok:"$job" --output="$RUN/logs/slurm-merge-%j.log" \
    examples/slurm/merge.sbatch >/dev/null || fail "the merge job failed (logs below)"
for i in 0 1 2 3; do
    [ "$(jq .shard.index "$ESCAPADE_OUT/shard-$i/summary.json")" = "$i" ] || fail "shard-$i is not shard $i of 4"
done

# The whole ensemble in one run, outside Slurm.
say "one unsharded run"
"$ESCAPADE" run "$ESCAPADE_EXPERIMENT" --out "$RUN/whole" --progress none --plots none --quiet

# --- The comparison.
whole=$RUN/whole merged=$ESCAPADE_OUT/all
for f in chains.csv events.csv; do
    cmp "$whole/$f" "$merged/$f" || fail "the merged $f differs from the unsharded run's ($whole/$f, $merged/$f)"
done
# summary.json: every field but the timings (wall_seconds, chain_steps_per_second,
# stepping_seconds, host_seconds, host_fraction), the memory estimate (per process: a merge
# keeps its largest shard's) and the merge's own lists (merged_from, merged_engines; `shard`
# is null in both). merge.rs
# recomputes the statistics (counts, survival, escape times, labels, step sizes, certification),
# sums the totals and copies the rest (experiment, label_cross_check, ...) from shard 0, so all of
# it must equal the unsharded run's. (label_cross_check is copied, not recounted: it matches here
# because its counts are 0 in this ensemble.)
strip='del(.wall_seconds, .chain_steps_per_second, .stepping_seconds, .host_seconds, .host_fraction, .host_memory_estimate, .device_memory_estimate, .merged_from, .merged_engines)'
if ! diff <(jq -S "$strip" "$whole/summary.json") <(jq -S "$strip" "$merged/summary.json") >"$RUN/summary.diff"; then
    cat "$RUN/summary.diff" >&2
    fail "the merged summary.json differs from the unsharded run's (diff above: < unsharded, > merged)"
fi
events=$(jq .counts.escape_events "$whole/summary.json")
[ "$events" -gt 4001 ] || fail "only $events escape events: the ensemble checks too little"
say "OK: 4 Slurm shards merged = the unsharded run (chains.csv, events.csv byte for byte; $events escape events; summary.json statistics equal)"
OK=1
