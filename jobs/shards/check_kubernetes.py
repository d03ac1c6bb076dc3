"""Checks the Kubernetes manifests of a sharded run (jobs/shards/kubernetes/*.yaml), offline.

Usage: check_kubernetes.py "VERSION ..." FILE.yaml ...  (check.sh runs it in kubernetes-validate's
venv). Two kinds of checks, each failure printed, exit 1 if any:

1. Every object against the Kubernetes API's JSON schema of each VERSION, strict (a field the
   API does not know is an error, so a misspelled field fails), with kubernetes-validate's
   bundled schemas. A kind or apiVersion it has no schema for is an error too (the tool's own
   command line only warns about it).
2. What the schema cannot see, between the objects: the plan's `--shards` equals the Indexed
   Job's `completions`; the Indexed Job retries per index and never restarts in place; each
   shard pod's memory limit is the job TOML's `memory_budget` plus at least 25%, and its
   request equals its limit; the rerun template's pod is the shards' pod but for its args and
   REGRADE_SHARD.
"""

from __future__ import annotations

import copy
import re
import sys
import tomllib

import kubernetes_validate
import yaml
from kubernetes_validate.utils import VersionNotSupportedError

HEADROOM = 1.25

# Kubernetes quantities (binary and decimal suffixes) and regrade's sizes (MiB, GiB, bytes).
QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}
BUDGET = {"MiB": 2**20, "GiB": 2**30, "": 1}


def size(text: str, units: dict[str, int]) -> float:
    m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", str(text).strip())
    if not m or m.group(2) not in units:
        raise ValueError(f"not a size: {text!r}")
    return float(m.group(1)) * units[m.group(2)]


def name_of(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return meta.get("name") or (meta.get("generateName", "?") + "*")


def validate(files: list[str], versions: list[str], errors: list[str]) -> dict[tuple[str, str], dict]:
    """Schema checks; returns the objects by (kind, name)."""
    objects = {}
    for path in files:
        try:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d]
        except yaml.YAMLError as e:
            errors.append(f"{path}: not valid YAML: {e}")
            continue
        for obj in docs:
            if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
                errors.append(f"{path}: a document without kind and apiVersion")
                continue
            where = f"{path}: {obj['kind']}/{name_of(obj)}"
            for version in versions:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    field = ".".join(str(p) for p in e.absolute_path) or "(top)"
                    errors.append(f"{where}: Kubernetes {version}: {field}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    errors.append(f"{where}: {e.message}")
                except VersionNotSupportedError as e:
                    sys.exit(f"check_kubernetes: {e.message} (kubernetes-validate {kubernetes_validate.__version__})")
            objects[(obj["kind"], name_of(obj))] = obj
    return objects


def container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


def cross_check(objects: dict, errors: list[str]) -> None:
    config = objects.get(("ConfigMap", "regrade-job"))
    plan = objects.get(("Job", "regrade-plan"))
    shards = objects.get(("Job", "regrade-shards"))
    rerun = objects.get(("Job", "regrade-rerun-shard-*"))
    for what, obj in [("ConfigMap regrade-job", config), ("Job regrade-plan", plan), ("Job regrade-shards", shards)]:
        if obj is None:
            errors.append(f"no {what} in the manifests")
    if not (config and plan and shards):
        return

    spec = shards["spec"]
    if spec.get("completionMode") != "Indexed":
        errors.append("regrade-shards: completionMode is not Indexed")
    if "backoffLimitPerIndex" not in spec:
        errors.append("regrade-shards: no backoffLimitPerIndex (a failing shard must be retried on its own)")
    for job in [plan, shards, rerun] + [objects.get(("Job", "regrade-finalize"))]:
        if job and job["spec"]["template"]["spec"].get("restartPolicy") != "Never":
            errors.append(f"{name_of(job)}: restartPolicy is not Never")

    args = container(plan).get("args", [])
    n = int(args[args.index("--shards") + 1]) if "--shards" in args[:-1] else None
    if n != spec.get("completions"):
        errors.append(f"regrade-plan plans --shards {n} but regrade-shards has completions: {spec.get('completions')}")
    if spec.get("parallelism", 1) > spec.get("completions", 1):
        errors.append("regrade-shards: parallelism is above completions")

    job_toml = tomllib.loads(config["data"]["job.toml"])
    if "memory_budget" not in job_toml:
        errors.append("job.toml has no memory_budget: the default (half the pod's limit) wastes the other half")
    else:
        budget = size(job_toml["memory_budget"], BUDGET)
        for job in [shards, rerun]:
            if job is None:
                continue
            res = container(job).get("resources", {})
            limit = res.get("limits", {}).get("memory")
            request = res.get("requests", {}).get("memory")
            if limit is None or size(limit, QUANTITY) < budget * HEADROOM:
                errors.append(
                    f"{name_of(job)}: memory limit {limit} is below memory_budget {job_toml['memory_budget']}"
                    f" + 25% ({budget * HEADROOM / 2**20:.0f}Mi)"
                )
            if request != limit:
                errors.append(f"{name_of(job)}: memory request {request} differs from its limit {limit}")

    if rerun is not None:
        pods = []
        for job in [shards, rerun]:
            pod = copy.deepcopy(job["spec"]["template"]["spec"])
            c = pod["containers"][0]
            c.pop("args", None)
            c["env"] = [e for e in c.get("env", []) if e["name"] != "REGRADE_SHARD"]
            pods.append(pod)
        if pods[0] != pods[1]:
            errors.append("regrade-rerun-shard.yaml's pod differs from regrade-shards' (beyond args and REGRADE_SHARD)")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        sys.exit(__doc__)
    versions = argv[1].split()
    errors: list[str] = []
    objects = validate(argv[2:], versions, errors)
    try:
        cross_check(objects, errors)
    except (KeyError, IndexError, TypeError, ValueError, tomllib.TOMLDecodeError) as e:
        errors.append(f"the checks between objects stopped at a malformed object: {e!r}")
    for e in errors:
        print(f"ERROR {e}")
    kinds = ", ".join(f"{k}/{n}" for k, n in objects)
    print(
        f"check_kubernetes: {len(objects)} objects in {len(argv) - 2} files ({kinds}) against Kubernetes "
        f"{', '.join(versions)} (kubernetes-validate {kubernetes_validate.__version__}, strict): "
        + (f"{len(errors)} errors" if errors else "ok")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
