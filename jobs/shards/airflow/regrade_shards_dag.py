"""A sharded regrade as an Airflow DAG: `plan`, then one mapped `shard` task per shard, then `finalize`.

Trigger it with the run's parameters (`airflow dags trigger regrade_shards --conf '{"input":
"s3://...", "output": "s3://...", "shards": 8}'` or the UI's trigger form):

- `plan` runs `regrade plan ... --shards N`, which writes the plan into the output folder, and
  returns the N shard commands (an XCom list);
- `shard` is mapped over that list with dynamic task mapping (`.expand`): one task instance per
  shard K, running `regrade run ... --shard K`, each retried on its own, at most PARALLELISM at
  once within a DAG run;
- `finalize` runs `regrade finalize OUTPUT` once every shard has succeeded: it checks every
  shard and writes manifest.json.

A shard that failed all its retries: clear that one task instance (map index K = shard K) with
its downstream, and it reruns alone, then finalize.

Every step gets the same job file and flags, which `regrade run` requires of a shard. Object-store
credentials come from the workers' environment (AWS_ACCESS_KEY_ID, ... the standard provider
chain), never from the DAG's parameters.

Written for Airflow 3 (checked with 3.3.2 by `make check-airflow`). BashOperator comes from the
`standard` provider, which the apache-airflow package installs. It runs regrade on the worker
itself, so the worker needs the `regrade` binary and the memory of a shard (budget + 25%). In
production, where each shard should get its own pod sized from the plan, use the cncf.kubernetes
provider's KubernetesPodOperator instead, with the same partial/expand: `.partial(image=...,
container_resources=..., env_from=...)` and `.expand(arguments=...)` over argument lists (and
jobs/shards/kubernetes for the pod's settings).
"""

from __future__ import annotations

import shlex
import subprocess
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, get_current_context, task

# The regrade binary on the workers.
REGRADE = "regrade"
# Shards running at once in one DAG run (P). N is the `shards` parameter, chosen per run.
PARALLELISM = 4


def job_flags(params: dict) -> list[str]:
    """The job file and flags that plan and every shard share."""
    flags = [params["job"]] if params["job"] else []
    flags += ["--input", params["input"], "--output", params["output"]]
    if params["memory_budget"]:
        flags += ["--memory-budget", params["memory_budget"]]
    if params["threads"]:
        flags += ["--threads", str(params["threads"])]
    return flags


with DAG(
    dag_id="regrade_shards",
    description="regrade: plan, N shards in parallel, finalize",
    schedule=None,  # triggered, with the run's parameters
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["regrade"],
    doc_md=__doc__,
    params={
        "input": Param(type="string", minLength=1, description="input root URL (an export)"),
        "output": Param(type="string", minLength=1, description="output folder URL, shared by all shards"),
        "shards": Param(8, type="integer", minimum=1, maximum=1024, description="N, the number of shards"),
        "job": Param("", type="string", description="job TOML on the workers (empty: flags only)"),
        "memory_budget": Param(
            "6GiB",
            type="string",
            description="per shard; a worker (or pod) needs this plus 25% free. Empty: regrade's default",
        ),
        "threads": Param(2, type="integer", minimum=0, maximum=1024, description="per shard (0: one per core)"),
    },
) as dag:

    @task(task_id="plan", retries=1, retry_delay=timedelta(minutes=1))
    def plan() -> list[str]:
        """Plans the run into the output folder; returns the N shard commands to map over."""
        params = get_current_context()["params"]
        flags = job_flags(params)
        n = int(params["shards"])
        command = [REGRADE, "plan", *flags, "--shards", str(n)]
        print("running:", shlex.join(command))
        result = subprocess.run(command, capture_output=True, text=True)
        # The plan's summary (courses per shard, memory budget per shard) in the task log.
        print(result.stdout, end="")
        print(result.stderr, end="")
        if result.returncode != 0:
            raise RuntimeError(f"regrade plan exited {result.returncode}")
        return [shlex.join([REGRADE, "run", *flags, "--shard", str(k)]) for k in range(n)]

    shard = BashOperator.partial(
        task_id="shard",
        # Each mapped instance (one shard) is retried on its own; a rerun is idempotent.
        retries=3,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_active_tis_per_dagrun=PARALLELISM,
        # Every non-zero exit fails the task (BashOperator would skip on 99).
        skip_on_exit_code=None,
    ).expand(bash_command=plan())

    finalize = BashOperator(
        task_id="finalize",
        bash_command='exec "$REGRADE" finalize "$REGRADE_OUTPUT"',
        # Through the environment, not pasted into the command: no shell quoting to get wrong.
        env={"REGRADE": REGRADE, "REGRADE_OUTPUT": "{{ params.output }}"},
        append_env=True,
        skip_on_exit_code=None,
        retries=1,
    )

    shard >> finalize
