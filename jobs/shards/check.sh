#!/usr/bin/env bash
# Validates the Kubernetes manifests of sharded runs offline (make check-jobs): every YAML file
# under jobs/shards/kubernetes against the Kubernetes API schema of each version in
# K8S_VERSIONS (default "1.29.0 1.33.0": backoffLimitPerIndex is on by default from 1.29 and GA
# in 1.33), strict (unknown fields are errors), plus the checks between the objects that a
# schema cannot make (check_kubernetes.py). Fails on any error. No cluster needed.
#
# The validator is PyPI's kubernetes-validate, which bundles the API's JSON schemas (1.25 to
# 1.37 in 1.37.0); installed into its own venv (CHECK_JOBS_VENV, default target/check-jobs-venv)
# when missing. `kubectl apply --dry-run=client` is no substitute: it downloads the schema from
# a cluster's API server.
set -euo pipefail
cd "$(dirname "$0")/../.."
KV_VERSION=1.37.0
venv=${CHECK_JOBS_VENV:-target/check-jobs-venv}
versions=${K8S_VERSIONS:-1.29.0 1.33.0}

if [[ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$KV_VERSION" ]]; then
  echo "check.sh: installing kubernetes-validate $KV_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION"
fi

mapfile -t files < <(find jobs/shards/kubernetes -name '*.yaml' -o -name '*.yml' | sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check.sh: no YAML under jobs/shards/kubernetes" >&2
  exit 1
fi
"$venv/bin/python" jobs/shards/check_kubernetes.py "$versions" "${files[@]}"
for script in jobs/shards/kubernetes/*.sh; do
  bash -n "$script"
done
