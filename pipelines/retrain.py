"""Prefect orchestration of the DVC pipeline: the `retrain` flow and its scheduled deployment.

retrain(tasks, families, profile):
  1. `dvc update` of the tasks' data imports (a new data version comes in here);
  2. every DVC stage the chosen models need, in DAG order, one Prefect task each. DVC still decides what is
     stale: a stage runs (`dvc repro --single-item`) only when `dvc status` reports it changed or a stage
     it depends on ran in this flow; otherwise it is reported "up to date" without starting DVC again;
  3. the register stages run the promotion gate; a markdown artifact `retrain-report` gets the metrics
     table and each promotion decision;
  4. `dvc push --run-cache`: the data imports, every stage output and the run-cache go to the DVC remote, so
     another clone pulls them instead of retraining (a failed push loses nothing: the outputs stay in the local
     cache, and the next run, or `scripts/push.sh`, pushes them).
Retries with back-off for transient failures (a tracking server that is down, a killed training run,
which resumes from its checkpoint), none for data that failed ingest or validation: retrying cannot fix
data, and the run's state carries the Great Expectations message.

    seqgen retrain                   # once, locally: a temporary Prefect server starts by itself
    seqgen schedule                  # serve the cron deployment (needs `prefect server start`, see README)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from seqgen import families as model_families

PROJECT = Path(__file__).resolve().parents[1]
DATA_STAGES = ("ingest", "validate")  # a failure here is the data's fault: never retried
DEPLOYMENT = "scheduled-retrain"


def declared_tasks(project: Path = PROJECT) -> dict[str, Any]:
    """{task name: its TaskSpec}, as the project's params.yaml declares them."""
    from seqgen.config import load_params, task_names, task_spec

    path = project / "params.yaml"
    params = load_params(path)
    return {name: task_spec(params, name, path) for name in task_names(params, path)}


class DataRejected(Exception):
    """The new data failed ingest or validation; the message holds what the stage printed."""


class StageFailed(Exception):
    """A stage failed for another reason (retried: it may be transient)."""


class PushFailed(Exception):
    """`dvc push` failed (retried: a remote that is briefly unreachable); the outputs stay in the local cache."""


def transient(task, task_run, state) -> bool:
    """Prefect retry condition: retry anything but rejected data."""
    try:
        state.result()
    except DataRejected:
        return False
    except Exception:
        return True
    return False


def dvc(*args: str, project: Path = PROJECT, merge: bool = True) -> subprocess.CompletedProcess:
    """A dvc command in the project, with the Python running this flow first on PATH (stage commands call `python`)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merge else subprocess.PIPE)


def selected(stage: str, tasks: list[str], families: list[str]) -> bool:
    """Whether a stage belongs to the chosen tasks and model families (with the families they warm-start from)."""
    name, _, item = stage.partition("@")
    if not item:
        return name == "report"
    task_name, _, family = item.partition("-")
    if task_name not in tasks:
        return False
    if name.startswith("train-"):
        family = name.removeprefix("train-")
        return family in families or any(model_families.get(chosen).warm_starts_from == family for chosen in families)
    return not family or family in families


def plan(tasks: list[str], families: list[str], project: Path = PROJECT) -> tuple[list[str], dict[str, set[str]]]:
    """The chosen stages in DAG order, and the stages each depends on (from DVC's own graph)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        names = {stage: stage.addressing for stage in graph.nodes}
        order = [names[s] for s in reversed(list(nx.topological_sort(graph)))]
        upstream = {names[s]: {names[d] for d in nx.descendants(graph, s)} for s in graph.nodes}
    stages = [s for s in order if not s.endswith(".dvc") and selected(s, tasks, families)]
    return stages, upstream


@task(name="dvc-update", retries=3, retry_delay_seconds=[5, 20, 60], retry_condition_fn=transient)
def update_data(tasks: list[str], project: Path = PROJECT) -> str:
    """`dvc update` of the imports: pulls a new data version if the source changed."""
    logger = get_run_logger()
    specs = declared_tasks(project)
    result = dvc("update", *[f"{specs[t].corpus.path}.dvc" for t in tasks], project=project)
    logger.info(result.stdout.strip() or "imports unchanged")
    if result.returncode != 0:
        raise DataRejected(f"dvc update failed:\n{result.stdout[-4000:]}")
    return result.stdout


@task(task_run_name="{stage}", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=transient)
def run_stage(stage: str, needed: bool, project: Path = PROJECT) -> str:
    """Run one DVC stage if needed; returns "ran" or "up to date"."""
    logger = get_run_logger()
    if not needed:
        logger.info("%s: up to date", stage)
        return "up to date"
    result = dvc("repro", "--single-item", stage, project=project)
    for line in result.stdout.splitlines()[-40:]:
        logger.info(line)
    if result.returncode != 0:
        exception = DataRejected if stage.split("@")[0] in DATA_STAGES else StageFailed
        raise exception(f"{stage} failed:\n{result.stdout[-6000:]}")
    return "ran" if f"Running stage '{stage}'" in result.stdout else "up to date"


@task(name="dvc-push", retries=2, retry_delay_seconds=[10, 60])
def push_outputs(project: Path = PROJECT) -> str:
    """`dvc push --run-cache` to the default DVC remote."""
    logger = get_run_logger()
    result = dvc("push", "--run-cache", project=project)
    for line in result.stdout.splitlines()[-10:]:
        logger.info(line)
    if result.returncode != 0:
        raise PushFailed("dvc push failed: the run's outputs are safe in the local cache (.dvc/cache) but not in the remote; "
                         f"fix the remote and run `dvc push --run-cache` (or scripts/push.sh):\n{result.stdout[-3000:]}")
    return result.stdout


def stale_stages(project: Path = PROJECT) -> set[str]:
    """Stages whose own dependencies, params or outputs differ from dvc.lock (one `dvc status` call)."""
    result = dvc("status", "--json", project=project, merge=False)
    if result.returncode != 0:
        raise StageFailed(f"dvc status failed:\n{result.stderr[-4000:]}")
    return set(json.loads(result.stdout or "{}"))


def report_markdown(tasks: list[str], families: list[str], outcomes: dict[str, str], project: Path = PROJECT) -> str:
    """The run's artifact: what ran, the metrics of every chosen model and each promotion decision."""
    keys_of_kind = {"translation": ("bleu", "chrf", "ppl"), "dialogue": ("bleu", "bleu_f1", "distinct_2", "ppl")}
    specs = declared_tasks(project)
    lines = ["# seqgen retrain", "", "| stage | outcome |", "|---|---|"]
    lines += [f"| {stage} | {outcome} |" for stage, outcome in outcomes.items()]
    for task_name in tasks:
        keys = keys_of_kind[specs[task_name].kind]
        lines += ["", f"## {task_name}", "", "| model | " + " | ".join(keys) + " | promotion |", "|---" * (len(keys) + 2) + "|"]
        for family in families:
            name = f"{task_name}-{family}"
            metrics_file, decision_file = project / "metrics" / f"{name}.json", project / "reports" / "promotion" / f"{name}.json"
            metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
            decision = json.loads(decision_file.read_text()) if decision_file.is_file() else {}
            figures = " | ".join(f"{metrics[k]:.4g}" if isinstance(metrics.get(k), (int, float)) else "-" for k in keys)
            verdict = f"v{decision.get('version')}: {decision.get('reason', '-')} (champion v{decision.get('champion_after')})" if decision else "-"
            if outcomes.get(f"register@{name}") == "up to date":
                verdict += " (unchanged since the last run)"
            lines.append(f"| {name} | {figures} | {verdict} |")
    return "\n".join(lines) + "\n"


def set_profile(profile: str, project: Path = PROJECT) -> None:
    """Write `profile`'s values into params.yaml (`seqgen profile`): DVC then sees exactly what changed."""
    from seqgen.profiles import write

    for key, (old, new) in write(profile, project / "params.yaml").items():
        get_run_logger().info("params.yaml: %s %s -> %s (profile %s)", key, old, new, profile)


@flow(name="retrain", log_prints=True)
def retrain(tasks: list[str] | None = None, families: list[str] = list(model_families.NAMES), profile: str | None = None,
            update: bool = True, push: bool = True) -> dict[str, Any]:
    """Bring in new data, rebuild what is stale for the chosen tasks (default: every declared one) x families, gate,
    report and push."""
    declared = list(declared_tasks())
    tasks = declared if tasks is None else tasks
    bad = [t for t in tasks if t not in declared] + [f for f in families if f not in model_families.NAMES]
    if bad:
        raise ValueError(f"unknown task or family {bad}: params.yaml declares the tasks {declared}, the families are {model_families.NAMES}")
    if profile:
        set_profile(profile)
    if update:
        update_data(tasks)
    stages, upstream = plan(tasks, families)
    stale = stale_stages()
    outcomes: dict[str, str] = {}
    for stage in stages:
        needed = stage in stale or any(outcomes.get(dep) == "ran" for dep in upstream.get(stage, ()))
        outcomes[stage] = run_stage(stage, needed)
    create_markdown_artifact(key="retrain-report", markdown=report_markdown(tasks, families, outcomes), description="metrics and promotion decisions")
    if push:
        push_outputs()
    return {"stages": outcomes, "ran": [s for s, o in outcomes.items() if o == "ran"], "pushed": push}


def serve(cron: str | None = None) -> None:
    """Serve the scheduled deployment (cron and parameters from params.yaml `schedule`) until stopped."""
    schedule = yaml.safe_load((PROJECT / "params.yaml").read_text(encoding="utf-8"))["schedule"]
    retrain.serve(name=DEPLOYMENT, cron=cron or schedule["cron"], pause_on_shutdown=False,
                  parameters={"tasks": schedule["tasks"], "families": schedule["families"], "profile": schedule["profile"]})


if __name__ == "__main__":
    serve()
