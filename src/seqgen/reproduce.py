"""`seqgen reproduce NAME[@ALIAS|/VERSION]`: rebuild a registered model from its lineage alone and say whether the
bytes match.

A version's lineage (tags set by the register stage): the git commit, the DVC md5 of every data folder, and the
dvc.lock entry of the stage that trained it (the md5 of each code and data dependency, and every param value).
From those alone this:
  1. makes a scratch git worktree at that commit (the user's workspace is never touched);
  2. writes the recorded params and lock entry into it and brings the recorded data versions from the DVC remote
     (by md5: an old data version comes back even after `dvc update` brought a new one);
  3. checks with `dvc status` that the commit's code is the code that trained (a model trained from uncommitted
     changes cannot be rebuilt from its commit, and is refused);
  4. retrains that one stage from scratch (`dvc repro --force --no-run-cache`, no checkpoints);
  5. compares the rebuilt model files' md5 with the registered one's (equal on the same machine kind); where they
     differ (another CPU: bf16 or not), evaluates the rebuilt model and compares its metrics with the registered
     ones within `tasks.<task>.reproduce.tolerance` of params.yaml;
  6. tags the outcome on the version (`reproduce.*`: when, machine, md5 equal or metric deltas) and removes the
     worktree and its caches.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import yaml

from seqgen.errors import SeqgenError

SPEC = re.compile(r"(?P<name>[a-z]+-[a-z]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>[0-9]+))?")
SCRATCH_DATA = ".seqgen-reproduce"  # in the worktree: the .dvc files that fetch recorded data versions by md5
NOT_REPRODUCED = 4  # exit code: rebuilt, but neither the bytes nor the metrics (within tolerance) match


class ReproduceError(SeqgenError):
    """The version cannot be rebuilt as asked; the message says what is missing and what to run."""


@dataclasses.dataclass
class Outcome:
    name: str
    version: str
    identical: bool  # the rebuilt model files have the registered md5
    reproduced: bool  # identical, or every compared metric within its tolerance
    registered_md5: str
    rebuilt_md5: str
    deltas: dict[str, float]  # rebuilt - registered, where the files differ
    train_seconds: float
    total_seconds: float

    def summary(self) -> str:
        if self.identical:
            verdict = f"bit-identical (model md5 {self.rebuilt_md5})"
        else:
            deltas = ", ".join(f"{k} {v:+.4g}" for k, v in self.deltas.items())
            verdict = f"{'reproduced within tolerance' if self.reproduced else 'NOT reproduced'}: model md5 {self.rebuilt_md5} " \
                      f"(registered {self.registered_md5}); metrics rebuilt - registered: {deltas}"
        return (f"{self.name} version {self.version}: {verdict}; training {self.train_seconds:.1f} s, "
                f"overhead {self.total_seconds - self.train_seconds:.1f} s")


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """NAME, NAME@ALIAS or NAME/VERSION -> (name, alias, version); a bare name means its champion."""
    from seqgen.commands import check_model_name

    match = SPEC.fullmatch(spec)
    if not match:
        raise ReproduceError(f"{spec!r}: expected NAME, NAME@ALIAS or NAME/VERSION, e.g. translation-mle/1")
    check_model_name(match["name"])
    alias = match["alias"] or (None if match["version"] else "champion")
    return match["name"], alias, match["version"]


def resolve_version(name: str, alias: str | None, version: str | None):
    from mlflow.exceptions import MlflowException

    from seqgen.registry.register import _client

    try:
        return _client().get_model_version_by_alias(name, alias) if alias else _client().get_model_version(name, version)
    except MlflowException:
        import mlflow

        raise ReproduceError(f"{name}{'@' + alias if alias else '/' + str(version)}: no such registered version in "
                             f"{mlflow.get_tracking_uri()} (`seqgen registry show {name}` lists them)") from None


def lineage_of(version) -> tuple[str, dict[str, Any]]:
    """(git commit, train-stage lock entry) from the version's tags, or a ReproduceError saying what is missing."""
    from seqgen.registry.register import LINEAGE_TAG

    where = f"{version.name} version {version.version}"
    commit, entry = version.tags.get("git_commit", ""), version.tags.get(LINEAGE_TAG)
    if not entry:
        why = version.tags.get(f"{LINEAGE_TAG}.missing") or "it was registered before seqgen recorded lineage"
        raise ReproduceError(f"{where} has no lineage tag {LINEAGE_TAG!r} ({why}): nothing to rebuild it from. "
                             "Train and register it with `dvc repro` to get a version that has one.")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ReproduceError(f"{where} has no git commit tag (git_commit={commit!r}): it was not trained in a git checkout")
    return commit, json.loads(entry)


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ReproduceError(f"git {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[-1000:]}")
    return result


def require_commit(root: Path, commit: str, where: str) -> None:
    if git(root, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0:
        return
    shallow = git(root, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"
    hint = "this is a shallow clone: run `git fetch --unshallow`" if shallow else "fetch the branch or tag that holds it (`git fetch origin`)"
    raise ReproduceError(f"{where} was trained at commit {commit}, which this clone does not have; {hint}, then run again")


def remote_config(root: Path) -> tuple[str, dict[str, Any]]:
    """(name, settings) of the project's default DVC remote, with a relative folder resolved to an absolute one."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        config = repo.config
        name = config["core"].get("remote")
        if not name or name not in config["remote"]:
            raise ReproduceError("this project has no default DVC remote to bring the data versions from: "
                                 "`dvc remote add -d storage /path/to/folder` (see README.md, 'Remote storage')")
        settings = dict(config["remote"][name])
    url = str(settings.get("url", ""))
    if "://" not in url and not Path(url).is_dir():  # a folder remote (the default) that is gone: say so, not "missing files"
        raise ReproduceError(f"the DVC remote {name!r} is the folder {url}, which does not exist (moved or unmounted?): "
                             f"`dvc remote modify --local {name} url /path/to/it` points the project at it")
    return name, settings


def _ini_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def prepare_worktree(tree: Path, scratch: Path, remote: tuple[str, dict[str, Any]], stage: str, entry: dict[str, Any]) -> None:
    """The recorded params and lock entry in the worktree, its DVC pointed at the user's remote and a scratch cache."""
    name, settings = remote
    lines = ["[core]", f"    remote = {name}", "[cache]", f"    dir = {scratch / 'cache'}", f"['remote \"{name}\"']"]
    lines += [f"    {key} = {_ini_value(value)}" for key, value in settings.items() if value is not None]
    (tree / ".dvc" / "config.local").write_text("\n".join(lines) + "\n", encoding="utf-8")

    params_file = tree / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    for dotted, value in entry.get("params", {}).get("params.yaml", {}).items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    lock_file = tree / "dvc.lock"
    lock = (yaml.safe_load(lock_file.read_text(encoding="utf-8")) if lock_file.is_file() else None) or {"schema": "2.0"}
    lock.setdefault("stages", {})[stage] = entry
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")


def fetch(tree: Path, wanted: dict[str, str], remote_url: str, env: dict[str, str], where: str) -> None:
    """Bring each {path: md5} from the DVC remote into the worktree, by md5 (not by any commit's dvc.lock)."""
    pointers = tree / SCRATCH_DATA
    pointers.mkdir(exist_ok=True)
    targets = []
    for i, (path, md5) in enumerate(sorted(wanted.items())):
        pointer = pointers / f"{i}.dvc"
        pointer.write_text(yaml.safe_dump({"outs": [{"md5": md5, "path": str(i), "hash": "md5"}]}), encoding="utf-8")
        targets.append(str(pointer.relative_to(tree)))
    result = subprocess.run([sys.executable, "-m", "dvc", "pull", *targets], cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        listing = ", ".join(f"{path} ({md5})" for path, md5 in sorted(wanted.items()))
        detail = " ".join(line.strip() for line in (result.stderr + result.stdout).splitlines() if "ERROR" in line)[-800:]
        raise ReproduceError(f"could not bring the data {where} was trained on from the DVC remote {remote_url}: {listing}. "
                             "If the remote is unreachable, fix that and run again; if it does not hold them, push them from a "
                             "workspace that has them (`dvc push`; `git checkout <commit> && dvc pull && dvc push` for an old "
                             f"version) or point the default remote at one that does. DVC said: {detail or f'exit {result.returncode}'}")
    for i, (path, _) in enumerate(sorted(wanted.items())):
        dest = tree / path
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(pointers / str(i)), dest)


def check_code(tree: Path, stage: str, env: dict[str, str], where: str, commit: str) -> None:
    """`dvc status` of the stage against its recorded entry: any dependency that differs means the commit's code
    (or the data just fetched) is not what trained the model."""
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json", stage], cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReproduceError(f"commit {commit[:12]} cannot run {stage}: {(result.stderr or result.stdout).strip()[-800:]}")
    changed = {}
    for change in json.loads(result.stdout or "{}").get(stage, []):
        if isinstance(change, dict):
            changed.update(change.get("changed deps", {}))
        elif change != "changed outs":
            changed[str(change)] = "changed"
    if changed:
        listing = ", ".join(f"{path} ({state if isinstance(state, str) else 'modified'})" for path, state in changed.items())
        raise ReproduceError(f"{where} was trained from code or params other than commit {commit[:12]}'s: {listing} differ from "
                             "the md5s its lineage records (uncommitted changes when it trained). It cannot be rebuilt from its "
                             "lineage: train it from a clean commit and register it again.")


def run_streaming(cmd: list[str], cwd: Path, env: dict[str, str], out: TextIO) -> tuple[int, str]:
    """Run cmd with its output copied to `out` as it comes (progress bars included); (exit code, its last lines)."""
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    tail = ""
    while chunk := process.stdout.read1(4096):
        text = chunk.decode("utf-8", errors="replace")
        out.write(text)
        out.flush()
        tail = (tail + text)[-4000:]
    return process.wait(), tail


def machine() -> str:
    from seqgen.runtime import machine as described

    return described()


def reproduce(spec: str, root: Path = Path("."), tolerance: dict[str, dict[str, float]] | None = None, keep: bool = False,
              out: TextIO | None = None) -> Outcome:
    """Rebuild the version named by spec from its lineage; tag the outcome on it. See the module docstring."""
    from seqgen.registry.register import _client, model_md5
    from seqgen.tracking import configure, train_stage

    started = time.perf_counter()
    out = out or sys.stderr

    def echo(message: str) -> None:
        print(f"[reproduce] {message}", file=out, flush=True)

    root = Path(root).resolve()
    name, alias, number = parse_spec(spec)
    task, family = name.split("-", 1)
    configure(root)
    version = resolve_version(name, alias, number)
    where = f"{name} version {version.version}"
    commit, entry = lineage_of(version)
    require_commit(root, commit, where)
    remote = remote_config(root)
    stage = train_stage(task, family)
    scratch = Path(tempfile.mkdtemp(prefix="seqgen-reproduce-"))
    tree = scratch / "tree"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'mlflow.db'}")  # the rebuild's own runs stay out of the user's store
    echo(f"{where}: commit {commit[:12]}, {stage}, data from the DVC remote {remote[1].get('url')}; scratch {scratch}")
    try:
        git(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        prepare_worktree(tree, scratch, remote, stage, entry)
        tracked = set(git(tree, "ls-files").stdout.splitlines())
        data = {dep["path"]: dep["md5"] for dep in entry.get("deps", [])
                if dep.get("md5") and not any(f == dep["path"] or f.startswith(dep["path"].rstrip("/") + "/") for f in tracked)}
        fetch(tree, data, str(remote[1].get("url")), env, where)
        check_code(tree, stage, env, where, commit)
        echo(f"training {stage} from scratch (no run-cache, no checkpoints)")
        trained = time.perf_counter()
        code, tail = run_streaming([sys.executable, "-m", "dvc", "repro", "--quiet", "--single-item", "--force", "--no-run-cache", stage], tree, env, out)
        train_seconds = time.perf_counter() - trained
        if code != 0:
            raise ReproduceError(f"the rebuild of {where} failed ({stage} exited {code}):\n{tail}")
        rebuilt = model_md5(tree / "models" / name)
        registered = version.tags.get("model_md5", "")
        deltas: dict[str, float] = {}
        if rebuilt != registered:
            deltas = compare_metrics(tree, name, task, family, version, tolerance, env, out, where, str(remote[1].get("url")))
        limits = (tolerance or {}).get(task, {})
        outcome = Outcome(name, str(version.version), rebuilt == registered,
                          rebuilt == registered or (bool(deltas) and all(abs(d) <= limits.get(k, 0.0) for k, d in deltas.items())),
                          registered, rebuilt, deltas, train_seconds, time.perf_counter() - started)
        verdict = "bit-identical" if outcome.identical else "within tolerance" if outcome.reproduced else "not reproduced"
        tags = {"reproduce.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reproduce.machine": machine(),
                "reproduce.outcome": verdict, "reproduce.model_md5": rebuilt, "reproduce.md5_equal": str(outcome.identical).lower(),
                "reproduce.metric_deltas": json.dumps(deltas, sort_keys=True), "reproduce.train_seconds": f"{train_seconds:.1f}"}
        for key, value in tags.items():
            _client().set_model_version_tag(name, version.version, key, value)
        return outcome
    finally:
        if keep:
            echo(f"kept the worktree {tree} and its cache in {scratch}: `git worktree remove --force {tree}` removes it")
        else:
            git(root, "worktree", "remove", "--force", str(tree), check=False)
            git(root, "worktree", "prune", check=False)
            shutil.rmtree(scratch, ignore_errors=True)


def compare_metrics(tree: Path, name: str, task: str, family: str, version, tolerance: dict[str, dict[str, float]] | None,
                    env: dict[str, str], out: TextIO, where: str, remote_url: str) -> dict[str, float]:
    """The rebuilt model's metrics minus the registered ones, for each metric of tasks.<task>.reproduce.tolerance: the
    evaluate stage at the commit, on the recorded test data, decoding as the registered version does."""
    import mlflow

    from seqgen.registry.register import version_metrics

    limits = (tolerance or {}).get(task)
    if not limits:
        raise ReproduceError(f"the rebuilt {name} differs from version {version.version} in its bytes, and params.yaml has no "
                             f"tasks.{task}.reproduce.tolerance to compare their metrics with")
    interim = f"data/interim/{task}"
    md5 = version.tags.get(f"dvc_md5:{interim}", "unknown")
    if md5 == "unknown":
        raise ReproduceError(f"{where} records no md5 of {interim} (its test data): its metrics cannot be compared")
    fetch(tree, {interim: md5}, remote_url, env, where)
    with tempfile.TemporaryDirectory(prefix="seqgen-decoding-") as tmp:
        decoding = json.loads(Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version.version}/artifacts/model/decoding.json", dst_path=tmp)).read_text(encoding="utf-8"))
    params_file = tree / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params.setdefault("evaluate", {})[task] = decoding
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    print(f"[reproduce] the bytes differ (another machine kind?): evaluating the rebuilt {name} as version {version.version} was", file=out, flush=True)
    code, tail = run_streaming([sys.executable, "-m", "seqgen.stages.evaluate", task, family], tree, env, out)
    if code != 0:
        raise ReproduceError(f"evaluating the rebuilt {name} failed:\n{tail}")
    rebuilt = json.loads((tree / "metrics" / f"{name}.json").read_text(encoding="utf-8"))
    registered = version_metrics(version)
    return {key: float(rebuilt[key]) - registered[key] for key in limits if key in rebuilt and key in registered}
