"""The MLflow Model Registry side: register a trained model as `<task>-<family>` (alias `challenger`),
run the promotion gate (alias `champion`), promote by hand, roll back, and show what is there.

Audit trail: every gate decision is written as tags on the challenger's version (`gate.*`); a version that
became champion records the one it replaced (`gate.previous_champion`), which is what rollback follows;
rollbacks tag both versions (`rollback.*`). Each decision is also appended to reports/promotion/audit.jsonl.

Registration is idempotent: a version carries the md5 of its model files (`model_md5`), and registering
the same files again reuses that version, so a retry after a crash never duplicates a model (its metrics and,
where dvc.lock describes the files, its lineage are refreshed: the latest commit that gives these bytes). The gate
runs under a file lock in the project, so concurrent register runs on this machine give exactly one
champion (with a shared tracking server, run registrations from one place: the retrain flow).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from seqgen.errors import SeqgenError
from seqgen.registry.gate import Decision, GateConfig, decide

PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/seqgen
LINEAGE_TAG = "lineage.train_stage"
MODEL_FILES = ("model.pt", "config.json", "tokenizer.model")
EXAMPLES = {  # an input example per kind of task
    "translation": ["A man rides a bike down the street."],
    "dialogue": ["Hi, how are you today? __eou__ Fine, thanks. And you?"]}
CHALLENGER, CHAMPION = "challenger", "champion"
METRIC_TAG = "metric."
SERVING_TAG = "serving"  # the version's default request params (JSON): new defaults make a new version
CODE_TAG = "code_md5"  # the md5 of the code the version carries (seqgen's package): new code makes a new version
ENGINE_TAG = "engine"  # what decodes its beam and greedy requests (tasks.<task>.engine): another engine makes a new version


class RegistryError(SeqgenError):
    """A registry operation cannot be done as asked; the message says why."""


def model_md5(model_dir: Path) -> str:
    digest = hashlib.md5()
    for name in MODEL_FILES:
        path = Path(model_dir) / name
        if not path.is_file():
            raise RegistryError(f"{path}: missing (is {model_dir} a trained model folder?)")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_data_version(interim: Path) -> str:
    """Which test data a metric was measured on: the sha256 of the task's test splits."""
    digest = hashlib.sha256()
    files = sorted(Path(interim).glob("test*.jsonl"))
    if not files:
        raise RegistryError(f"{interim}: no test*.jsonl files (run the ingest stage first)")
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def lock_path(root: Path) -> Path:
    """One lock per store: beside a SQLite store (shared by every workspace that uses it, DVC's temporary
    experiment copies included), else in the project."""
    import mlflow

    from seqgen.tracking import project_root

    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):] + ".lock")
    return project_root(root) / ".registry.lock"


@contextlib.contextmanager
def registry_lock(root: Path) -> Iterator[None]:
    """Serialise registration and gate decisions (exactly one champion however many run at once)."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _client():
    import mlflow

    return mlflow.MlflowClient()


def code_md5() -> str:
    """The md5 of seqgen's code as a registered version carries it (every .py file of the package, by path)."""
    digest = hashlib.md5()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def find_version(name: str, md5: str, serving: str | None = None, code: str | None = None, engine: str | None = None):
    """The registered version of `name` holding exactly these model files (and, given `serving`, `code` and `engine`,
    answering with these default params, carrying this code and decoding with this engine: its tags), if any."""
    from mlflow.exceptions import MlflowException

    try:
        versions = _client().search_model_versions(f"name = '{name}' and tag.model_md5 = '{md5}'")
    except MlflowException:
        return None
    wanted = {SERVING_TAG: serving, CODE_TAG: code, ENGINE_TAG: engine}
    versions = [v for v in versions if all(value is None or v.tags.get(tag) == value for tag, value in wanted.items())]
    return min(versions, key=lambda v: int(v.version)) if versions else None


def model_requirements(engine: str = "torch") -> list[str]:
    """What a consumer installs to load the pyfunc (the model carries seqgen's own code): the packages it imports, at
    the versions installed here. mlflow-skinny, not mlflow: loading and serving a pyfunc needs no tracking server,
    UI or SQL store. torch without its local label (`2.13.0`, not `2.13.0+cpu`): pip then takes a CPU wheel where
    one is offered (`--index-url https://download.pytorch.org/whl/cpu`) and PyPI's build elsewhere."""
    from importlib.metadata import version

    dists = ("torch", "sentencepiece", "sacrebleu", "numpy", "pandas", "pyyaml", "mlflow-skinny") + (("ctranslate2",) if engine.startswith("ctranslate2") else ())
    return [f"{dist}=={version(dist).split('+')[0]}" for dist in dists]


def param_schema(serving):
    """The MLflow ParamSchema of a registered model: seqgen.inference.PARAMS, each defaulting to the model's
    serving default (a seqgen.inference.Request)."""
    from mlflow.types import ParamSchema, ParamSpec

    from seqgen.inference import PARAMS

    defaults = dataclasses.asdict(serving)
    return ParamSchema([ParamSpec(name, kind, defaults[name]) for name, (kind, _, _) in PARAMS.items()])


def log_version(name: str, task: str, model_dir: Path, metrics: dict[str, Any], decoding: dict[str, Any], params: dict,
                interim: Path, root: Path = Path("."), serving=None):
    """Log the model as a pyfunc (models-from-code, carrying seqgen's code) and register it as a new version of
    `name`, tagged with its lineage, metrics and test data version; returns the version (an existing one for the
    same files). Where tasks.<task>.engine names CTranslate2 and the family converts (not the VAE), the converted
    weights are part of the version (artifacts/model/ctranslate2/, their md5 tagged) and decode its beam and greedy
    requests."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    from seqgen.config import task_spec
    from seqgen.inference import SERVING_FILE, Request
    from seqgen.tracking import lineage_tags, metrics_by_dataset, stage_run, train_lineage

    spec = task_spec(params, task)
    serving = serving or Request(beam=decoding.get("beam", 5))
    md5 = model_md5(model_dir)
    serving_tag, code = json.dumps(dataclasses.asdict(serving), sort_keys=True), code_md5()
    engine, engine_note = chosen_engine(params, task, model_dir)
    existing = find_version(name, md5, serving_tag, code, engine)
    lineage, missing = train_lineage(task, name.split("-", 1)[1], root)
    if existing is not None:  # the same files: refresh the metrics (e.g. after a change in decoding) and lineage, keep the version
        for key, value in numeric_metrics(metrics).items():
            _client().set_model_version_tag(name, existing.version, f"{METRIC_TAG}{key}", repr(value))
        if lineage:  # these very files come again from this commit's lineage: record that one (commit, data and lock entry agree)
            for key, value in {**lineage_tags(task, params, root), LINEAGE_TAG: json.dumps(lineage, sort_keys=True)}.items():
                _client().set_model_version_tag(name, existing.version, key, value)
        return _client().get_model_version(name, existing.version)  # its description is its card
    tags = {**lineage_tags(task, params, root), "model_md5": md5, SERVING_TAG: serving_tag, CODE_TAG: code, ENGINE_TAG: engine,
            "test_data_version": test_data_version(interim), **({f"{ENGINE_TAG}.note": engine_note} if engine_note else {}),
            **{f"{METRIC_TAG}{k}": repr(v) for k, v in numeric_metrics(metrics).items()},
            # What `seqgen reproduce` rebuilds the model from: the train stage's dvc.lock entry (code, data and params
            # with their md5s), or why there is none.
            **({LINEAGE_TAG: json.dumps(lineage, sort_keys=True)} if lineage else {f"{LINEAGE_TAG}.missing": missing})}
    signature = ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec(Array(DataType.string))]),
                               params=param_schema(serving))
    with tempfile.TemporaryDirectory(prefix="seqgen-register-") as tmp:
        bundle = Path(tmp) / "model"
        bundle.mkdir()
        for file in MODEL_FILES:
            shutil.copyfile(Path(model_dir) / file, bundle / file)
        (bundle / "decoding.json").write_text(json.dumps(decoding, indent=1), encoding="utf-8")
        (bundle / SERVING_FILE).write_text(json.dumps(dataclasses.asdict(serving), indent=1), encoding="utf-8")
        if engine != "torch":
            tags["ctranslate2_md5"] = add_converted(model_dir, bundle, engine)
        card = card_of(name, spec.kind, bundle, tags, metrics, decoding, serving, interim)
        with stage_run(f"register@{name}", task, params, {"registry": params["tasks"][task].get("registry", {}), "decoding": decoding,
                                                          "serving": dataclasses.asdict(serving)}, root) as run:
            mlflow.set_tags({"model": name, "model_md5": md5})
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_FILE),
                artifacts={"model": str(bundle)},
                code_paths=[str(PACKAGE_DIR)],  # seqgen's own code travels with the model: PyPI has no seqgen of ours
                signature=signature,
                input_example=EXAMPLES[spec.kind],
                pip_requirements=model_requirements(engine),  # named, not inferred: inference is slow and would miss nothing here
            )
            for dataset, numbers in metrics_by_dataset(spec, metrics, root):  # the model's page: which data each number is on
                mlflow.log_metrics(numbers, dataset=dataset, model_id=info.model_id)
            mlflow.log_text(card, "model_card.md")
            version = mlflow.register_model(info.model_uri, name, tags={**tags, "run_id": run.info.run_id})
            version = _client().update_model_version(name, version.version, description=card)
    return version


def chosen_engine(params: dict, task: str, model_dir: Path) -> tuple[str, str | None]:
    """The engine a version of models/<task>-<family> decodes beam and greedy requests with ("torch", or "ctranslate2
    <compute type>") and, where tasks.<task>.engine asked for CTranslate2 and the family cannot have it, why."""
    from seqgen.ctranslate import engine_config, why_not_convertible

    cfg = engine_config(params, task)
    if cfg.name == "torch":
        return "torch", None
    reason = why_not_convertible(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")))
    return ("torch", f"our decoder: {reason}") if reason else (f"ctranslate2 {cfg.compute_type}", None)


def add_converted(model_dir: Path, bundle: Path, engine: str) -> str:
    """Convert the weights into the bundle (bundle/ctranslate2/) and name the engine (bundle/engine.json); returns the
    md5 of the converted weights (model.bin)."""
    from seqgen.ctranslate import CONVERTED_DIR, convert
    from seqgen.inference import ENGINE_FILE

    record = convert(model_dir, bundle / CONVERTED_DIR)
    compute_type = engine.split()[1]
    (bundle / ENGINE_FILE).write_text(json.dumps({"engine": "ctranslate2", "compute_type": compute_type}, indent=1), encoding="utf-8")
    return record["model_bin_md5"]


def card_of(name: str, kind: str, bundle: Path, tags: dict[str, str], metrics: dict[str, Any], decoding: dict[str, Any], serving, interim: Path) -> str:
    """The version's model card (seqgen.registry.card), its sample outputs decoded by the bundle about to be logged,
    on the first validation inputs."""
    from seqgen.io import read_jsonl
    from seqgen.inference import TURN_SEPARATOR, Generator
    from seqgen.models.store import load_model_dir
    from seqgen.registry.card import dull_share, model_card

    valid = interim / "valid.jsonl"
    examples = read_jsonl(valid)[:100] if valid.is_file() else []
    inputs = [e["source"] if kind == "translation" else f" {TURN_SEPARATOR} ".join(e["context"]) for e in examples]
    generator = Generator(bundle)
    defaults = [group[0] for group in generator(inputs)] if inputs else []
    alternatives = generator(inputs[:3], {"num_outputs": 3, "strategy": "sample", "latent": "sample"}) if inputs else []
    samples = [(text, [default], alts) for text, default, alts in zip(inputs[:3], defaults, alternatives)]
    note = load_model_dir(bundle).behaviour.decoding_note()
    return model_card(name, kind, tags, metrics, decoding, serving, samples, dull_share(defaults), note)


def export_version(name: str, version: str, dest: Path) -> Path:
    """Copy registered version `version` of `name` (the MLflow model folder: MLmodel, code, artifacts) to dest, replacing
    what is there: a DVC output, so another clone gets a servable model with `dvc pull` and no registry."""
    import mlflow

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=dest.parent) as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp))
        shutil.rmtree(dest, ignore_errors=True)
        local.rename(dest)
    return dest


def version_metrics(version) -> dict[str, float]:
    return {k[len(METRIC_TAG):]: float(v) for k, v in version.tags.items() if k.startswith(METRIC_TAG)}


def get_alias(name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def audit(root: Path, record: dict[str, Any]) -> None:
    path = root / "reports" / "promotion" / "audit.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


@dataclasses.dataclass
class GateResult:
    name: str
    version: str
    decision: Decision
    champion_before: str | None
    champion_after: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    champion_reevaluated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.name, "version": self.version, "promoted": self.decision.promote, "reason": self.decision.reason,
                "champion_before": self.champion_before, "champion_after": self.champion_after,
                "challenger_metrics": self.challenger_metrics, "champion_metrics": self.champion_metrics,
                "champion_reevaluated": self.champion_reevaluated, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def gate(name: str, version: str, cfg: GateConfig, test_version: str, reevaluate: Callable[[Any], dict[str, Any]] | None,
         root: Path = Path("."), force: bool = False) -> GateResult:
    """Decide whether `version` becomes champion and apply the decision (tags, alias, audit line).
    `reevaluate(champion_version)` gives the champion's metrics on the current test data when the champion
    was measured on another test data version. Call under registry_lock()."""
    client, version = _client(), str(version)
    candidate = client.get_model_version(name, version)
    challenger_metrics = version_metrics(candidate)
    if candidate.tags.get("test_data_version") != test_version and not force:
        raise RegistryError(f"{name} version {version} was evaluated on test data {candidate.tags.get('test_data_version')}, "
                            f"not the current {test_version}: re-run its evaluate and register stages")
    champion = get_alias(name, CHAMPION)
    champion_metrics, reevaluated = None, False
    if champion is not None and champion.version == candidate.version:
        decision = Decision(False, f"version {version} is already the champion")
    else:
        if champion is not None:
            if champion.tags.get("test_data_version") == test_version:
                champion_metrics = version_metrics(champion)
            elif reevaluate is not None:
                champion_metrics, reevaluated = numeric_metrics(reevaluate(champion)), True
                client.set_model_version_tag(name, champion.version, f"reevaluated.{test_version}", json.dumps(champion_metrics, sort_keys=True))
        if champion is not None and candidate.tags.get("model_md5") == champion.tags.get("model_md5"):
            # The champion's own weights with new default request params (params.yaml tasks.<task>.serve, chosen on
            # validation) or new serving code: its test metrics are the champion's by construction, so no margin can be
            # asked of it.
            changed = [what for what, tag in (("serving defaults", SERVING_TAG), ("code", CODE_TAG), ("engine", ENGINE_TAG))
                       if candidate.tags.get(tag) != champion.tags.get(tag)]
            decision = Decision(True, f"the champion's model (version {champion.version}) with new {' and '.join(changed) or 'tags'}")
        else:
            decision = decide(challenger_metrics, champion_metrics if champion is not None else None, cfg)
        if force and not decision.promote:
            decision = Decision(True, f"forced by hand over: {decision.reason}")
    before = str(champion.version) if champion is not None else None
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    already = champion is not None and champion.version == candidate.version
    if not already:
        for key, value in {"gate.decision": "promoted" if decision.promote else "refused", "gate.reason": decision.reason[:4900],
                           "gate.champion_before": before or "", "gate.at": stamp}.items():
            client.set_model_version_tag(name, version, key, value)
    if decision.promote:
        client.set_model_version_tag(name, version, "gate.previous_champion", before or "")
        client.set_registered_model_alias(name, CHAMPION, version)
    after = version if decision.promote or already else before
    result = GateResult(name, version, decision, before, after, challenger_metrics, champion_metrics, reevaluated)
    audit(root, {"event": "gate", **result.as_dict()})
    return result


def rollback(name: str, root: Path = Path(".")) -> tuple[str, str]:
    """Give `champion` back to the version the current champion replaced; returns (from, to)."""
    client = _client()
    with registry_lock(root):
        champion = get_alias(name, CHAMPION)
        if champion is None:
            raise RegistryError(f"{name} has no champion to roll back")
        previous = champion.tags.get("gate.previous_champion", "")
        if not previous:
            raise RegistryError(f"{name} version {champion.version} replaced no earlier champion: nothing to roll back to")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        client.set_model_version_tag(name, champion.version, "rollback.demoted_at", stamp)
        client.set_model_version_tag(name, previous, "rollback.restored_at", stamp)
        client.set_registered_model_alias(name, CHAMPION, previous)
        audit(root, {"event": "rollback", "model": name, "from": str(champion.version), "to": previous, "at": stamp})
    return str(champion.version), previous


def describe(name: str | None = None) -> list[dict[str, Any]]:
    """Registered models (or one), their versions with aliases, metrics, data version and gate decision."""
    from mlflow.exceptions import MlflowException

    client = _client()
    names = [name] if name else sorted(m.name for m in client.search_registered_models())
    rows = []
    for model in names:
        try:
            registered = client.get_registered_model(model)
        except MlflowException:
            raise RegistryError(f"no registered model named {model!r}") from None
        aliases: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for version in sorted(client.search_model_versions(f"name = '{model}'"), key=lambda v: int(v.version)):
            tags = version.tags
            rows.append({
                "model": model, "version": str(version.version), "aliases": sorted(aliases.get(str(version.version), [])),
                "metrics": version_metrics(version), "data": {k.split(":", 1)[1]: v for k, v in tags.items() if k.startswith("dvc_md5:")},
                "test_data_version": tags.get("test_data_version"), "git_commit": tags.get("git_commit"), "profile": tags.get("profile"),
                "gate": tags.get("gate.decision"), "reason": tags.get("gate.reason"),
            })
    return rows


def reevaluator(task: str, params: dict, root: Path):
    """evaluate() of a registered version on the current test data (when the champion was measured on other data)."""

    def reevaluate(version) -> dict[str, Any]:
        import mlflow

        from seqgen.config import from_mapping, task_section, task_spec
        from seqgen.console import log
        from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
        from seqgen.models.store import load_model_dir

        log("register", f"re-evaluating champion version {version.version} on the current test data")
        cfg = from_mapping(EvaluateConfig, task_section(params, task, "evaluate"), f"tasks.{task}.evaluate")
        with tempfile.TemporaryDirectory(prefix="seqgen-champion-") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{version.name}/{version.version}", dst_path=tmp))
            metrics, _ = evaluate(load_model_dir(local / "artifacts" / "model"), root / "data/interim" / task, root / "data/processed" / task, cfg,
                                  test_sets=task_spec(params, task).test_sets, target_lang=params["tasks"][task].get("data", {}).get("target_lang"))
        return metrics

    return reevaluate


def register_and_gate(task: str, family: str, params: dict, root: Path = Path(".")) -> dict[str, Any]:
    """The register stage's work: register models/<task>-<family> as a challenger, run the gate, export the
    version to models/mlflow/<task>-<family>; returns the decision record (also written as JSON)."""
    import mlflow

    from seqgen.config import from_mapping, task_section
    from seqgen.console import log
    from seqgen.inference import read_defaults
    from seqgen.io import write_json_atomic
    from seqgen.tracking import configure

    name = f"{task}-{family}"
    gate_cfg = from_mapping(GateConfig, task_section(params, task, "registry"), f"tasks.{task}.registry")
    metrics_path = root / "metrics" / f"{name}.json"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{metrics_path}: missing (run evaluate@{name} first)") from None
    decoding = task_section(params, task, "evaluate")
    serving = read_defaults(task_section(params, task, "serve"), family, decoding["beam"], f"tasks.{task}.serve")
    interim = root / "data" / "interim" / task
    configure(root)
    with registry_lock(root):
        version = log_version(name, task, root / "models" / name, metrics, decoding, params, interim, root, serving)
        mlflow.MlflowClient().set_registered_model_alias(name, CHALLENGER, version.version)
        result = gate(name, version.version, gate_cfg, test_data_version(interim), reevaluator(task, params, root), root)
    export_version(name, version.version, root / "models" / "mlflow" / name)
    record = result.as_dict()
    write_json_atomic(root / "reports" / "promotion" / f"{name}.json", record)
    card = root / "reports" / "cards" / f"{name}.md"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(version.description or "", encoding="utf-8")
    log("register", f"{name} version {version.version}: {result.decision.reason}; champion: {result.champion_after}")
    return record
