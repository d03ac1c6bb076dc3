#!/bin/bash
# submit.sh: plan a sharded regrade run and submit it to Slurm.
#
#   1. regrade plan [JOB] --input INPUT --output OUTPUT --shards SHARDS [flags]
#   2. sbatch --array=0-(SHARDS-1) regrade-shards.sbatch          (one task per shard)
#   3. sbatch --dependency=afterok:<array job> regrade-finalize.sbatch   (manifest.json)
# and prints the two job ids (ARRAY_JOB_ID=..., FINALIZE_JOB_ID=...).
#
# Environment (all exported to the jobs):
#   OUTPUT         required. The run's output URL (local path, s3://, gs://, az://), reachable
#                  from every compute node.
#   SHARDS         number of shards N (default 4). A shard is a whole number of courses, so more
#                  shards than courses leaves some idle; the plan's summary shows each one's load.
#   JOB            job TOML (optional; unset: regrade's embedded default job).
#   INPUT          input URL (optional when the job names one).
#   MEMORY_BUDGET  --memory-budget for the plan and every shard, e.g. 2GiB (recommended: the
#                  default is half the memory of the machine that plans, not of a compute node).
#   REGRADE_FLAGS  other run flags for the plan and every shard, word-split, e.g.
#                  "--as-of 2026-11-01T00:00:00Z --rescore only-if-higher".
#   REGRADE        the regrade binary (default: `regrade` on PATH); a relative path is made
#                  absolute. It must be at that path on every compute node.
#   CPUS_PER_TASK  --cpus-per-task of each shard (default: the .sbatch file's, 2).
#   MEM            --mem of each shard. Default: 1.5 x MEMORY_BUDGET rounded up to MiB when
#                  MEMORY_BUDGET is set, else the .sbatch file's 3G.
#   MAX_PARALLEL   at most this many shards at once (sbatch --array=0-(N-1)%MAX_PARALLEL).
#   LOG_DIR        where the jobs' stdout/stderr go (default: the directory sbatch runs in).
#   SBATCH_ARGS    extra sbatch options for both submissions, word-split, e.g.
#                  "--partition=batch --account=grades --time=08:00:00".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUTPUT:?OUTPUT (the run output URL) must be set}"
SHARDS=${SHARDS:-4}
REGRADE=${REGRADE:-regrade}
case $REGRADE in
    /*) ;;
    */*) REGRADE=$(cd "$(dirname "$REGRADE")" && pwd)/$(basename "$REGRADE") ;;
esac
if ! [[ $SHARDS =~ ^[1-9][0-9]*$ ]]; then
    echo "submit.sh: SHARDS must be a positive integer, not '$SHARDS'" >&2
    exit 2
fi

# MiB in a size as regrade's --memory-budget takes it (512MiB, 2GiB, 2G, bytes), x 1.5, rounded up.
mem_for_budget() {
    local size=$1 n unit mib
    if ! [[ $size =~ ^([0-9]+)[[:space:]]*([KMGTkmgt]?)(i?[Bb])?$ ]]; then
        return 1
    fi
    n=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]^^}
    case $unit in
        "") mib=$(((n + 1048575) / 1048576)) ;;
        K) mib=$(((n + 1023) / 1024)) ;;
        M) mib=$n ;;
        G) mib=$((n * 1024)) ;;
        T) mib=$((n * 1024 * 1024)) ;;
    esac
    echo "$(((mib * 3 + 1) / 2))M"
}

if [[ -z ${MEM:-} && -n ${MEMORY_BUDGET:-} ]]; then
    if ! MEM=$(mem_for_budget "$MEMORY_BUDGET"); then
        echo "submit.sh: cannot read MEMORY_BUDGET '$MEMORY_BUDGET'; set MEM (sbatch --mem) too" >&2
        exit 2
    fi
fi

export OUTPUT SHARDS JOB INPUT MEMORY_BUDGET REGRADE_FLAGS REGRADE

# shellcheck disable=SC2086 # REGRADE_FLAGS and SBATCH_ARGS are lists of flags, split on purpose
"$REGRADE" plan ${JOB:+"$JOB"} ${INPUT:+--input "$INPUT"} --output "$OUTPUT" --shards "$SHARDS" \
    ${MEMORY_BUDGET:+--memory-budget "$MEMORY_BUDGET"} ${REGRADE_FLAGS:-}

shard_opts=(--export=ALL --array="0-$((SHARDS - 1))${MAX_PARALLEL:+%$MAX_PARALLEL}")
finalize_opts=(--export=ALL)
[[ -n ${CPUS_PER_TASK:-} ]] && shard_opts+=(--cpus-per-task="$CPUS_PER_TASK")
[[ -n ${MEM:-} ]] && shard_opts+=(--mem="$MEM")
if [[ -n ${LOG_DIR:-} ]]; then
    mkdir -p "$LOG_DIR"
    shard_opts+=(--output="$LOG_DIR/regrade-shard-%A_%a.out")
    finalize_opts+=(--output="$LOG_DIR/regrade-finalize-%j.out")
fi

# shellcheck disable=SC2086
array_id=$(sbatch --parsable "${shard_opts[@]}" ${SBATCH_ARGS:-} "$here/regrade-shards.sbatch")
array_id=${array_id%%;*}
# shellcheck disable=SC2086
finalize_id=$(sbatch --parsable "${finalize_opts[@]}" --dependency="afterok:$array_id" \
    ${SBATCH_ARGS:-} "$here/regrade-finalize.sbatch")
finalize_id=${finalize_id%%;*}

echo "ARRAY_JOB_ID=$array_id"
echo "FINALIZE_JOB_ID=$finalize_id"
echo "submit.sh: $SHARDS shards in array job $array_id${MEM:+ (--mem=$MEM each)}, finalize job $finalize_id" >&2
echo "submit.sh: rerun shard K with: sbatch --export=ALL --array=K $here/regrade-shards.sbatch (same environment)" >&2
