"""Checks the Airflow DAG of sharded runs (jobs/shards/airflow) with Airflow itself (make check-airflow).

Run with the Python of a venv that has apache-airflow (the Makefile target installs it). Loads
the folder with Airflow's DagBag (no example DAGs) and fails on any import error, then checks the
task graph of `regrade_shards`: exactly the tasks plan, shard and finalize; plan upstream of
shard, shard upstream of finalize; shard mapped (dynamic task mapping) and retried on its own,
plan and finalize not mapped; finalize waits for every shard to succeed. Then it calls the plan
task's function with a stand-in for `regrade plan` and checks the shard commands it returns:
N of them, shard K with `--shard K`, each with plan's job and flags.

Last, unless --no-run: one whole DAG run with `airflow dags test` (a fresh SQLite database in a
temporary AIRFLOW_HOME) and a stub `regrade` on PATH that records its arguments: the run must
succeed, having run plan once, shard K = 0..N-1 once each (mapped at run time from plan's XCom),
then finalize, with the same job and flags throughout. Prints the timings.
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

DAG_FOLDER = Path(__file__).resolve().parent / "airflow"
DAG_ID = "regrade_shards"

# Airflow writes its config and a SQLite file under AIRFLOW_HOME on import: keep them out of ~.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="regrade-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

errors: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        errors.append(what)


def main() -> int:
    run = "--no-run" not in sys.argv[1:]
    t0 = time.monotonic()
    import airflow
    from airflow.models import DagBag

    t_import = time.monotonic() - t0
    kwargs = {"dag_folder": str(DAG_FOLDER)}
    if "include_examples" in inspect.signature(DagBag.__init__).parameters:
        kwargs["include_examples"] = False  # Airflow 2; Airflow 3's DagBag never loads them
    t1 = time.monotonic()
    bag = DagBag(**kwargs)
    t_parse = time.monotonic() - t1

    for path, error in bag.import_errors.items():
        errors.append(f"import error in {path}:\n{error}")
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        errors.append(f"no DAG {DAG_ID} in {DAG_FOLDER} (found: {sorted(bag.dags)})")
    else:
        check_graph(dag)
        check_commands(dag)
    t_static = time.monotonic() - t0
    t_run = None
    if run and not errors:
        t2 = time.monotonic()
        check_dag_run()
        t_run = time.monotonic() - t2

    for e in errors:
        print(f"ERROR {e}")
    print(
        f"check_airflow: Airflow {airflow.__version__}: {len(bag.dags)} DAG(s) from {DAG_FOLDER.name}/, "
        f"import {t_import:.1f}s, DagBag {t_parse:.1f}s, checks {t_static:.1f}s"
        + (f", DAG run {t_run:.1f}s" if t_run is not None else ", no DAG run")
        + f", total {time.monotonic() - t0:.1f}s: "
        + (f"{len(errors)} errors" if errors else "ok")
    )
    return 1 if errors else 0


def check_graph(dag) -> None:
    ids = set(dag.task_ids)
    check(ids == {"plan", "shard", "finalize"}, f"tasks are {sorted(ids)}, not plan, shard, finalize")
    if not {"plan", "shard", "finalize"} <= ids:
        return
    plan, shard, finalize = (dag.get_task(t) for t in ("plan", "shard", "finalize"))
    check("plan" in shard.upstream_task_ids, "plan is not upstream of shard")
    check("shard" in finalize.upstream_task_ids, "shard is not upstream of finalize")
    check(finalize.upstream_task_ids == {"shard"}, f"finalize waits for {finalize.upstream_task_ids}, not shard")
    check(bool(getattr(shard, "is_mapped", False)), "shard is not a mapped task")
    check(not getattr(plan, "is_mapped", False), "plan is mapped")
    check(not getattr(finalize, "is_mapped", False), "finalize is mapped")
    check((shard.retries or 0) > 0, "shard has no retries of its own")
    rule = getattr(finalize.trigger_rule, "value", finalize.trigger_rule)
    check(rule == "all_success", f"finalize's trigger rule is {rule}, not all_success")
    check("shards" in dag.params, "no `shards` parameter")


def check_commands(dag) -> None:
    """Runs the plan task's function with `regrade plan` stood in for; checks the shard commands."""
    import shlex
    import subprocess

    plan = dag.get_task("plan")
    params = {
        "input": "s3://exports/2026-11-01",
        "output": "s3://grades/runs/2026 11 01",  # a space: the commands must quote it
        "shards": 3,
        "job": "/etc/regrade/job.toml",
        "memory_budget": "6GiB",
        "threads": 2,
    }
    ran: list[list[str]] = []

    def fake_run(command, **kwargs):
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="plan: 3 shards\n", stderr="")

    module = sys.modules[plan.python_callable.__module__]
    with mock.patch.object(module, "get_current_context", return_value={"params": params}), mock.patch.object(
        module.subprocess, "run", fake_run
    ):
        commands = plan.python_callable()
    flags = ["/etc/regrade/job.toml", "--input", params["input"], "--output", params["output"]]
    flags += ["--memory-budget", "6GiB", "--threads", "2"]
    check(ran == [["regrade", "plan", *flags, "--shards", "3"]], f"plan ran {ran}")
    expected = [["regrade", "run", *flags, "--shard", str(k)] for k in range(3)]
    check([shlex.split(c) for c in commands] == expected, f"shard commands are {commands}")


STUB = """#!/bin/sh
# Stands in for regrade: records its arguments, one call a line, tab-separated.
{ printf '%s\\t' "$@"; printf '\\n'; } >> "$REGRADE_STUB_LOG"
"""


def check_dag_run() -> None:
    """One DAG run with `airflow dags test` and a stub regrade; checks what it ran."""
    home = Path(tempfile.mkdtemp(prefix="regrade-airflow-run-"))
    (home / "bin").mkdir()
    stub = home / "bin" / "regrade"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = home / "regrade-calls.tsv"
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FOLDER),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{home / 'bin'}{os.pathsep}{os.environ['PATH']}",
        REGRADE_STUB_LOG=str(log),
    )
    conf = {"input": "s3://exports/2026-11-01", "output": "s3://grades/runs/2026 11 01", "shards": 4}
    airflow = [sys.executable, "-m", "airflow"]
    for command in (["db", "migrate"], ["dags", "test", DAG_ID, "--conf", json.dumps(conf)]):
        result = subprocess.run(airflow + command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            errors.append(f"airflow {' '.join(command[:2])} exited {result.returncode} (AIRFLOW_HOME {home}):\n{tail}")
            return
    calls = [line.split("\t")[:-1] for line in log.read_text().splitlines()] if log.exists() else []
    flags = ["--input", conf["input"], "--output", conf["output"], "--memory-budget", "6GiB", "--threads", "2"]
    shards = sorted(calls[1:-1], key=lambda c: int(c[-1]))
    check(
        len(calls) == 6
        and calls[0] == ["plan", *flags, "--shards", "4"]
        and shards == [["run", *flags, "--shard", str(k)] for k in range(4)]
        and calls[-1] == ["finalize", conf["output"]],
        f"the DAG run called regrade as {calls} (AIRFLOW_HOME {home})",
    )
    if not errors:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
