#!/usr/bin/env bash
# Runs a sharded regrade on the cluster of the current kubectl context, step after step:
# plan, the shards (Indexed Job), finalize. Usage: submit.sh (NAMESPACE=ns submit.sh for
# another namespace than the context's). Edit regrade-shards.yaml first: the input and output
# in the ConfigMap, N (--shards and completions), P (parallelism), memory and threads.
# Needs the Secret regrade-object-store (see regrade-shards.yaml).
set -euo pipefail
cd "$(dirname "$0")"
kc=(kubectl ${NAMESPACE:+--namespace "$NAMESPACE"})
poll=${POLL_SECONDS:-15}

# Waits for Job $1 to end: returns 0 once it is Complete, 1 once it is Failed. (`kubectl wait
# --for=condition=complete` would wait out its whole timeout on a Job that failed.)
wait_job() {
  local conditions
  while :; do
    conditions=$("${kc[@]}" get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
    case " $conditions " in
      *" Complete "*) return 0 ;;
      *" Failed "*) return 1 ;;
    esac
    sleep "$poll"
  done
}

# Job templates are immutable and a Job name is taken until deleted: a new run needs the last
# run's Jobs gone (their outputs are in the output folder, not in the Jobs).
if "${kc[@]}" get job regrade-plan regrade-shards regrade-finalize --ignore-not-found -o name | grep -q .; then
  echo "submit.sh: Jobs of an earlier run are still there; once it is over, delete them:" >&2
  echo "  kubectl delete -f regrade-shards.yaml -f regrade-finalize.yaml --ignore-not-found" >&2
  exit 1
fi

# 1. The ConfigMap, the plan Job (starts now) and the shards Job, created suspended.
"${kc[@]}" apply -f regrade-shards.yaml
echo "submit.sh: planning (kubectl logs -f job/regrade-plan)"
if ! wait_job regrade-plan; then
  "${kc[@]}" logs job/regrade-plan --tail=50 >&2 || true
  echo "submit.sh: the plan failed; no shard was started" >&2
  exit 1
fi
"${kc[@]}" logs job/regrade-plan

# 2. The shards: each index retried on its own (backoffLimitPerIndex).
"${kc[@]}" patch job regrade-shards --type=merge -p '{"spec":{"suspend":false}}'
echo "submit.sh: shards running (kubectl get pods -l app.kubernetes.io/component=shards)"
if ! wait_job regrade-shards; then
  failed=$("${kc[@]}" get job regrade-shards -o jsonpath='{.status.failedIndexes}')
  echo "submit.sh: shards ${failed:-?} failed all their retries; finalize will name them." >&2
  echo "  rerun one: ./rerun-shard.sh K; then: kubectl delete -f regrade-finalize.yaml --ignore-not-found && kubectl apply -f regrade-finalize.yaml" >&2
fi

# 3. Finalize, also after failed shards: it checks every shard and names the missing ones.
"${kc[@]}" apply -f regrade-finalize.yaml
status=0
wait_job regrade-finalize || status=1
"${kc[@]}" logs job/regrade-finalize || true
exit "$status"
