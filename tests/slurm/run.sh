#!/bin/bash
# tests/slurm/run.sh (`make test-slurm`): a sharded regrade run on a real, private, single-node
# Slurm cluster, compared with a single run.
#
#   1. Install Debian's slurm-wlm and munge with apt-get if missing.
#   2. In a temporary folder: a munge key, munged on its own socket, a slurm.conf for this
#      machine (one node, its CPUs and memory, no accounting, no cgroups) on ports of its own,
#      slurmctld and slurmd in the background; wait for the node to be idle. Nothing under
#      /etc is touched and the daemons of an installed Slurm or munge are left alone.
#   3. A trivial array job (sbatch --array=0-2 --wrap ...): Slurm works on its own.
#   4. regrade generate a small dataset; regrade run it once into folder A; then
#      jobs/shards/slurm/submit.sh with SHARDS=3 into folder B (plan, the array, finalize after
#      it); wait for both jobs by polling `scontrol show job` (squeue/sacct history needs
#      accounting), check every task and finalize COMPLETED, and that A and B hold the same
#      bytes in every file but manifest.json, and B/manifest.json exists.
# Prints PASS or FAIL (exit 1) and the time each step took. Everything it started is stopped
# and the temporary folder removed at exit.
#
# Skips (SKIP notice, exit 0) when it cannot run: not root, or Slurm missing and not
# installable, or the regrade binary has no `plan` command yet. With REGRADE_REQUIRE_SLURM=1
# a skip is a failure.
#
# Environment:
#   REGRADE                the regrade binary (default: target/release/regrade of this repo)
#   REGRADE_REQUIRE_SLURM  1: fail instead of skipping
#   REGRADE_SLURM_KEEP     1: keep the temporary folder (logs, outputs) and print its path
#   REGRADE_SLURM_TIMEOUT  seconds to wait for each job (default 600)
#   REGRADE_SLURM_PORT     slurmctld's port; slurmd uses the next one (default 16817)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REGRADE=${REGRADE:-$repo/target/release/regrade}
timeout_s=${REGRADE_SLURM_TIMEOUT:-600}
port=${REGRADE_SLURM_PORT:-16817}
submit=$repo/jobs/shards/slurm/submit.sh
# The run options both runs get: a fixed "now" (report file names carry it), a small budget.
as_of=2026-11-01T00:00:00Z
budget=256MiB

start=$(date +%s)
timings=()
step_start=$start
lap() { # lap NAME: record the seconds since the previous lap
    local now
    now=$(date +%s)
    timings+=("$1 $((now - step_start))s")
    step_start=$now
}
say() { echo "test-slurm: $*"; }

skip() {
    if [[ ${REGRADE_REQUIRE_SLURM:-} == 1 ]]; then
        echo "FAIL test-slurm: cannot run and REGRADE_REQUIRE_SLURM=1: $*"
        exit 1
    fi
    echo "SKIP test-slurm: $* (set REGRADE_REQUIRE_SLURM=1 to make this a failure)"
    exit 0
}

work=
pids=()
job_ids=()
failed=0
dump_logs() {
    [[ -n $work && -d $work/log ]] || return 0
    local f
    for f in "$work"/log/*; do
        [[ -s $f ]] || continue
        echo "---- ${f#"$work"/} (last 25 lines)"
        tail -n 25 "$f"
    done
}
fail() {
    echo "FAIL test-slurm: $*"
    failed=1
    dump_logs
    exit 1
}
cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    if [[ ${#job_ids[@]} -gt 0 ]]; then
        scancel "${job_ids[@]}" 2>/dev/null || true
    fi
    # Stop the daemons in reverse order of starting, each by its pid; wait for them to exit.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $work ]]; then
        if [[ ${REGRADE_SLURM_KEEP:-} == 1 ]]; then
            say "kept $work"
        else
            rm -rf "$work"
        fi
    fi
    if [[ $rc -ne 0 && $failed -eq 0 ]]; then
        echo "FAIL test-slurm: stopped (exit $rc)"
        dump_logs
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. prerequisites and install -----------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root (starts munged, slurmctld and slurmd)"
[[ -x $REGRADE ]] || fail "no regrade binary at $REGRADE (cargo build --release --bins)"

have_slurm() {
    local c
    for c in munged slurmctld slurmd sbatch scontrol sinfo scancel; do
        command -v "$c" >/dev/null || return 1
    done
}
if have_slurm; then
    say "slurm already installed ($(slurmctld -V)), no install"
else
    command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get"
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } \
        >/tmp/regrade-test-slurm-apt.log 2>&1; then
        tail -n 20 /tmp/regrade-test-slurm-apt.log
        skip "apt-get could not install slurm-wlm and munge (log: /tmp/regrade-test-slurm-apt.log)"
    fi
    have_slurm || skip "slurm-wlm installed but its commands are missing"
    say "installed $(slurmctld -V)"
fi
lap install

# ---- 2. a private single-node cluster ---------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/regrade-test-slurm.XXXXXX")
# munged wants its socket's folders searchable by all, its key folder private.
chmod 755 "$work"
mkdir -p "$work"/{munge-key,munge-run,state,spool,log,smoke,data}
chmod 700 "$work/munge-key"
chmod 755 "$work/munge-run"

key=$work/munge-key/munge.key
if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$key" --bits=1024
else
    dd if=/dev/urandom of="$key" bs=128 count=1 status=none
fi
chmod 600 "$key"
socket=$work/munge-run/munge.socket
munged --foreground --socket="$socket" --key-file="$key" --pid-file="$work/munge-run/munged.pid" \
    --seed-file="$work/munge-key/munged.seed" --log-file="$work/log/munged.log" \
    >"$work/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    [[ -S $socket ]] && break
    sleep 0.1
done
[[ -S $socket ]] || fail "munged did not create its socket"

node=$(hostname -s)
cpus=$(nproc)
# RealMemory in MiB as slurmd measures it (slurmd drains a node configured with more).
real_memory=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
conf=$work/slurm.conf
cat >"$conf" <<EOF
# A single-node cluster on this machine for tests/slurm/run.sh; deleted at exit.
ClusterName=regrade-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Keep finished jobs' records an hour: without accounting, scontrol is where their states are.
MinJobAge=3600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_memory State=UNKNOWN
PartitionName=regrade Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf
say "slurm.conf: node $node, CPUs=$cpus, RealMemory=$real_memory MiB, ports $port/$((port + 1))"

slurmctld -D -f "$conf" >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" -f "$conf" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
state=
for _ in $(seq 60); do
    state=$(sinfo -h -N -n "$node" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "a Slurm daemon exited (pid $pid)"
    done
    sleep 1
done
[[ $state == idle ]] || fail "node $node not idle after 60 s (state '$state')"
say "node $node idle"
lap slurm-up

# wait_job ID (in a subshell, so errors go to stderr): poll until every record of job ID (an array's every task) has ended; prints one
# line per record: "<ArrayTaskId or -> <JobState> <ExitCode>". A job pending on a dependency
# that can never be met counts as ended.
wait_job() {
    local id=$1 deadline=$(($(date +%s) + timeout_s)) out line states done_all
    while :; do
        if ! out=$(scontrol -o show job "$id" 2>&1); then
            echo "scontrol show job $id: $out" >&2
            return 1
        fi
        states=()
        done_all=1
        while IFS= read -r line; do
            [[ -n $line ]] || continue
            local task=- st='?' ec='?' reason=
            [[ $line =~ (^|[[:space:]])ArrayTaskId=([^[:space:]]+) ]] && task=${BASH_REMATCH[2]}
            [[ $line =~ (^|[[:space:]])JobState=([^[:space:]]+) ]] && st=${BASH_REMATCH[2]}
            [[ $line =~ (^|[[:space:]])ExitCode=([^[:space:]]+) ]] && ec=${BASH_REMATCH[2]}
            [[ $line =~ (^|[[:space:]])Reason=([^[:space:]]+) ]] && reason=${BASH_REMATCH[2]}
            case $st in
                PENDING)
                    if [[ $reason == DependencyNeverSatisfied ]]; then
                        st=PENDING:DependencyNeverSatisfied
                    else
                        done_all=0
                    fi
                    ;;
                RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | RESIZING | \
                    STAGE_OUT | SIGNALING | RESV_DEL_HOLD | REQUEUE_FED | REQUEUE_HOLD | \
                    SPECIAL_EXIT | STOPPED | "?") done_all=0 ;;
            esac
            states+=("$task $st $ec")
        done <<<"$out"
        if [[ $done_all -eq 1 && ${#states[@]} -gt 0 ]]; then
            printf '%s\n' "${states[@]}" | sort -n
            return 0
        fi
        if [[ $(date +%s) -ge $deadline ]]; then
            echo "job $id still running after ${timeout_s}s: ${states[*]}" >&2
            return 1
        fi
        sleep 1
    done
}
# all_completed ID EXPECTED_RECORDS: wait for job ID, fail unless it has that many records,
# all COMPLETED with exit code 0:0.
all_completed() {
    local id=$1 expected=$2 states bad
    states=$(wait_job "$id" 2>"$work/log/wait.err") || fail "job $id: $(cat "$work/log/wait.err")"
    say "job $id: $(echo "$states" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
    bad=$(echo "$states" | awk '$2 != "COMPLETED" || $3 != "0:0"')
    [[ -z $bad ]] || fail "job $id: not all COMPLETED: $bad"
    [[ $(echo "$states" | wc -l) -eq $expected ]] || fail "job $id: $expected records expected: $states"
}

# ---- 3. Slurm on its own: a trivial array ---------------------------------------------------
# shellcheck disable=SC2016 # $SLURM_ARRAY_TASK_ID is the job's to expand
smoke=$(sbatch --parsable --array=0-2 --mem=16M --time=00:01:00 --chdir="$work/smoke" \
    --output="$work/smoke/task-%a.out" --wrap 'echo "task $SLURM_ARRAY_TASK_ID"')
smoke=${smoke%%;*}
job_ids+=("$smoke")
all_completed "$smoke" 3
for k in 0 1 2; do
    grep -qx "task $k" "$work/smoke/task-$k.out" ||
        fail "smoke array task $k wrote '$(cat "$work/smoke/task-$k.out" 2>/dev/null)'"
done
say "trivial array job $smoke: 3 tasks COMPLETED, each printed its SLURM_ARRAY_TASK_ID"
lap smoke-array

# ---- 4. a single run and a sharded run --------------------------------------------------------
if ! "$REGRADE" plan --help >/dev/null 2>&1; then
    skip "Slurm works (trivial array job passed), but $REGRADE has no 'plan' command yet"
fi

input=$work/data/input
single=$work/data/A-single
sharded=$work/data/B-sharded
"$REGRADE" generate "$input" --seed 20 --courses 5 --learners 300 --problems-per-course 12 -q
lap generate

job_toml=$repo/jobs/full-recompute.toml
flags="--as-of $as_of"
# shellcheck disable=SC2086
"$REGRADE" run "$job_toml" --input "$input" --output "$single" --memory-budget "$budget" $flags -q ||
    fail "the single regrade run failed"
lap single-run

submit_out=$(cd "$work/data" && REGRADE="$REGRADE" JOB="$job_toml" INPUT="$input" OUTPUT="$sharded" \
    SHARDS=3 MEMORY_BUDGET="$budget" REGRADE_FLAGS="$flags" CPUS_PER_TASK=1 \
    LOG_DIR="$work/log" SBATCH_ARGS="--time=00:10:00" bash "$submit" 2>&1) || {
    echo "$submit_out"
    fail "submit.sh failed"
}
while IFS= read -r line; do echo "  | $line"; done <<<"$submit_out"
array_id=$(echo "$submit_out" | sed -n 's/^ARRAY_JOB_ID=//p')
finalize_id=$(echo "$submit_out" | sed -n 's/^FINALIZE_JOB_ID=//p')
[[ -n $array_id && -n $finalize_id ]] || fail "submit.sh printed no job ids"
job_ids+=("$array_id" "$finalize_id")
all_completed "$array_id" 3
all_completed "$finalize_id" 1
lap sharded-run

[[ -f $sharded/manifest.json ]] || fail "no manifest.json in the sharded run's folder"
if ! diff -r --exclude=manifest.json "$single" "$sharded" >"$work/log/diff.txt" 2>&1; then
    fail "the sharded run's files differ from the single run's: $(head -c 2000 "$work/log/diff.txt")"
fi
files=$(cd "$sharded" && find . -type f ! -name manifest.json | wc -l)
lap compare

total=$(($(date +%s) - start))
say "timings: ${timings[*]}; total ${total}s"
echo "PASS test-slurm: 3 shards on Slurm (array $array_id, finalize $finalize_id) wrote the same $files files as a single run, byte for byte, and a manifest.json"
