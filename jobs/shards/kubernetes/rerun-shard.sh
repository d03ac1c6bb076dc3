#!/usr/bin/env bash
# Reruns shard K of a sharded regrade by hand: a one-off Job from regrade-rerun-shard.yaml
# running `regrade run /etc/regrade/job.toml --shard K` into the same output folder.
# Usage: rerun-shard.sh K (NAMESPACE=ns for another namespace than the context's).
# Afterwards: kubectl delete -f regrade-finalize.yaml --ignore-not-found && kubectl apply -f regrade-finalize.yaml
set -euo pipefail
cd "$(dirname "$0")"
if [[ $# -ne 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: rerun-shard.sh K (the 0-based shard index)" >&2
  exit 2
fi
kc=(kubectl ${NAMESPACE:+--namespace "$NAMESPACE"})
# `set env --local` edits the file's copy only, without a cluster; the Job's name is generated.
kubectl set env --local -f regrade-rerun-shard.yaml "REGRADE_SHARD=$1" -o yaml | "${kc[@]}" create -f -
