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
failed=0 # set once a FAIL line is printed

skip() {
    if [[ ${REGRADE_REQUIRE_SLURM:-} == 1 ]]; then
        echo "FAIL test-slurm: cannot run and REGRADE_REQUIRE_SLURM=1: $*"
        failed=1
        exit 1
    fi
    echo "SKIP test-slurm: $* (set REGRADE_REQUIRE_SLURM=1 to make this a failure)"
    exit 0
}

work=
pids=()
job_ids=()
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

work=$(mktemp -d "${TMPDIR:-/tmp}/regrade-test-slurm.XXXXXX")
# munged wants its socket's folders searchable by all, its key folder private.
chmod 755 "$work"
mkdir -p "$work"/{munge-key,munge-run,state,spool,log,smoke,data}

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
        >"$work/log/apt-get.log" 2>&1; then
        tail -n 20 "$work/log/apt-get.log"
        skip "apt-get could not install slurm-wlm and munge"
    fi
    have_slurm || skip "slurm-wlm installed but its commands are missing"
    say "installed $(slurmctld -V)"
fi
lap install

# ---- 2. a private single-node cluster ---------------------------------------------------------
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
# expect_states ID EXPECTED...: wait for job ID and fail unless its records are exactly the
# EXPECTED lines, each "<task> <JobState> <ExitCode>" (task "-" for a job that is no array).
expect_states() {
    local id=$1 states want
    shift
    states=$(wait_job "$id" 2>"$work/log/wait.err") || fail "job $id: $(cat "$work/log/wait.err")"
    say "job $id: $(paste -sd ';' <<<"$states" | sed 's/;/; /g')"
    want=$(printf '%s\n' "$@")
    [[ $states == "$want" ]] ||
        fail "job $id: expected $(paste -sd ';' <<<"$want"), got $(paste -sd ';' <<<"$states")"
}
# all_completed ID N: job ID's N array tasks (N=0: a job that is no array) all COMPLETED, exit 0.
all_completed() {
    local id=$1 n=$2 k want=()
    if [[ $n -eq 0 ]]; then
        want=("- COMPLETED 0:0")
    else
        for ((k = 0; k < n; k++)); do want+=("$k COMPLETED 0:0"); done
    fi
    expect_states "$id" "${want[@]}"
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

# The environment every submission of a sharded run gets (submit.sh exports it to the jobs).
shard_env=(REGRADE="$REGRADE" JOB="$job_toml" INPUT="$input" MEMORY_BUDGET="$budget"
    REGRADE_FLAGS="$flags" CPUS_PER_TASK=1 LOG_DIR="$work/log" SBATCH_ARGS="--time=00:10:00")
# submit OUTPUT [VAR=VALUE...]: submit.sh with 3 shards into OUTPUT; sets array_id, finalize_id.
submit() {
    local out=$1 submit_out line
    shift
    submit_out=$(cd "$work/data" &&
        env "${shard_env[@]}" "$@" OUTPUT="$out" SHARDS=3 bash "$submit" 2>&1) || {
        echo "$submit_out"
        fail "submit.sh failed"
    }
    while IFS= read -r line; do echo "  | $line"; done <<<"$submit_out"
    array_id=$(sed -n 's/^ARRAY_JOB_ID=//p' <<<"$submit_out")
    finalize_id=$(sed -n 's/^FINALIZE_JOB_ID=//p' <<<"$submit_out")
    [[ -n $array_id && -n $finalize_id ]] || fail "submit.sh printed no job ids"
    job_ids+=("$array_id" "$finalize_id")
}
# same_as_single OUTPUT: OUTPUT holds the single run's files, byte for byte, and a manifest.
same_as_single() {
    [[ -f $1/manifest.json ]] || fail "no manifest.json in $1"
    if ! diff -r --exclude=manifest.json "$single" "$1" >"$work/log/diff.txt" 2>&1; then
        fail "$1 differs from the single run: $(head -c 2000 "$work/log/diff.txt")"
    fi
}

submit "$sharded"
all_completed "$array_id" 3
all_completed "$finalize_id" 0
lap sharded-run
# Each task ran the shard of its SLURM_ARRAY_TASK_ID, and finalize saw the three.
for k in 0 1 2; do
    log=$work/log/regrade-shard-${array_id}_$k.out
    grep -q "^regrade run --shard $k: " "$log" || fail "array task $k did not run shard $k: $(tail -n 5 "$log")"
done
grep -q ": 3 shards, 5 courses (0 failed)" "$work/log/regrade-finalize-$finalize_id.out" ||
    fail "finalize: $(cat "$work/log/regrade-finalize-$finalize_id.out")"
same_as_single "$sharded"
files=$(cd "$sharded" && find . -type f ! -name manifest.json | wc -l)
say "sharded run: every task and finalize COMPLETED, the same $files files as the single run"
lap compare

# ---- 5. a failed shard: finalize is cancelled; the shard rerun by hand, then finalize --------
# The recovery jobs/README.md describes, with the .sbatch files submitted by hand. A wrapper
# fails shard 1's first attempt before regrade starts, as a node lost at the start would.
rerun=$work/data/C-rerun
flaky=$work/flaky-regrade
cat >"$flaky" <<FLAKY
#!/bin/bash
if [[ \${SLURM_ARRAY_TASK_ID:-} == 1 && ! -e $work/flaky-failed-once ]]; then
    touch $work/flaky-failed-once
    echo "flaky-regrade: shard 1 fails this once" >&2
    exit 1
fi
exec "$REGRADE" "\$@"
FLAKY
chmod +x "$flaky"
submit "$rerun" REGRADE="$flaky"
expect_states "$array_id" "0 COMPLETED 0:0" "1 FAILED 1:0" "2 COMPLETED 0:0"
# afterok can no longer be met: --kill-on-invalid-dep cancels finalize.
expect_states "$finalize_id" "- CANCELLED 0:0"
# regrade finalize itself names the missing shard and the command that reruns it.
if "$REGRADE" finalize "$rerun" >"$work/log/finalize-early.out" 2>&1; then
    fail "regrade finalize succeeded with shard 1 missing"
fi
# shellcheck disable=SC2016 # backquotes in the message, not a command
grep -q 'shard 1 (.*rerun it with `regrade run .*--shard 1`' "$work/log/finalize-early.out" ||
    fail "finalize did not name shard 1 and its rerun: $(cat "$work/log/finalize-early.out")"
[[ ! -e $rerun/manifest.json ]] || fail "manifest.json written with shard 1 missing"
by_hand=("${shard_env[@]}" REGRADE="$flaky" OUTPUT="$rerun")
again=$(cd "$work/data" && env "${by_hand[@]}" sbatch --parsable --export=ALL --array=1 \
    --cpus-per-task=1 --mem=384M --output="$work/log/regrade-shard-%A_%a.out" \
    "$repo/jobs/shards/slurm/regrade-shards.sbatch")
again=${again%%;*}
job_ids+=("$again")
final=$(cd "$work/data" && env "${by_hand[@]}" sbatch --parsable --export=ALL \
    --dependency="afterok:$again" --output="$work/log/regrade-finalize-%j.out" \
    "$repo/jobs/shards/slurm/regrade-finalize.sbatch")
final=${final%%;*}
job_ids+=("$final")
expect_states "$again" "1 COMPLETED 0:0"
all_completed "$final" 0
same_as_single "$rerun"
say "failed shard: finalize cancelled, finalize by hand named shard 1; shard 1 rerun ($again) and finalize ($final) COMPLETED, the same files"
lap failed-shard

total=$(($(date +%s) - start))
say "timings: ${timings[*]}; total ${total}s"
echo "PASS test-slurm: 3 Slurm array tasks and finalize wrote the single run's $files files byte for byte, and a manifest.json; so did a failed shard rerun by hand"
