"""The bodies of `seqgen registry ...`, `seqgen translate` and `seqgen chat` (argument parsing is in cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Iterable

from seqgen.errors import SeqgenError


Predictor = Callable[..., list[list[str]]]  # (texts, params=None) -> for each text, its outputs


def load_error(uri: str, err: Exception) -> SeqgenError:
    """Why the model at `uri` could not be loaded, with where else to find it when `uri` names a registered model."""
    hint = ""
    if uri.startswith("models:/"):  # e.g. a clone that pulled its models has a registry of its own, maybe empty
        name = uri[len("models:/"):].split("@")[0].split("/")[0]
        hint = (f" (a clone that pulled its models with `dvc pull` serves them from their folders: --model models/mlflow/{name}; "
                "a team shares one registry through an MLflow tracking server: MLFLOW_TRACKING_URI)")
    return SeqgenError(f"cannot load model {uri!r}: {str(err).splitlines()[0]}{hint}")


def load_predictor(uri: str) -> Predictor:
    """A function from input strings (and optional request params, seqgen.inference.PARAMS) to each input's outputs:
    a trained model folder, or any MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/...), loaded
    from exactly that place. Bad input or params raise a SeqgenError naming them."""
    from seqgen.inference import InputError, check_request

    folder = Path(uri)
    if folder.is_dir() and (folder / "config.json").is_file():
        from seqgen.inference import Generator

        generator = Generator(folder)

        def predict_local(texts: list[str], params: dict | None = None) -> list[list[str]]:
            try:
                return generator(texts, params)
            except InputError as err:
                raise SeqgenError(str(err)) from None

        return predict_local
    import mlflow
    from mlflow.exceptions import MlflowException

    from seqgen.tracking import configure

    configure()
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as err:
        raise load_error(uri, err) from None

    def predict(texts: list[str], params: dict | None = None) -> list[list[str]]:
        try:
            check_request(params)  # MLflow drops a param its schema does not name, with only a warning: refuse it here
            return [list(outputs) for outputs in model.predict(texts, params=params or None)]
        except (InputError, MlflowException) as err:
            raise SeqgenError(str(err).splitlines()[0]) from None

    return predict


def request_params(args) -> dict:
    """The request params that the decoding flags of `seqgen translate` / `seqgen chat` name (unset flags: the
    model's defaults)."""
    params = {name: getattr(args, name) for name in ("num_outputs", "beam", "temperature", "top_k", "top_p", "latent", "prior_scale", "seed")
              if getattr(args, name, None) is not None}
    if getattr(args, "sample", False):
        params["strategy"] = "sample"
    if getattr(args, "strategy", None):
        params["strategy"] = args.strategy
    return params


def _lines(args) -> Iterable[str]:
    if args.sentences and args.input:
        raise SeqgenError("give sentences as arguments or --input, not both")
    if args.sentences:
        return args.sentences
    if not args.input:
        raise SeqgenError("nothing to translate: give sentences as arguments, or --input FILE (- for stdin)")
    if args.input == "-":
        return (line.rstrip("\n") for line in sys.stdin)
    path = Path(args.input)
    if not path.is_file():
        raise SeqgenError(f"--input {path}: no such file")
    return path.read_text(encoding="utf-8").splitlines()


def translate_command(args) -> int:
    """One translation per input line, in order; an empty input line gives an empty output line. With
    --num-outputs N > 1, each input's N outputs are printed as N lines followed by an empty line."""
    from seqgen.inference import check_request

    params = request_params(args)
    try:
        check_request(params)
    except ValueError as err:
        raise SeqgenError(str(err)) from None
    predict = load_predictor(args.model)
    batch: list[str] = []
    several = params.get("num_outputs", 1) > 1

    def flush() -> None:
        texts = [t for t in batch if t.strip()]
        outputs = iter(predict(texts, params)) if texts else iter(())
        for text in batch:
            group = next(outputs) if text.strip() else [""]
            print("\n".join(group) + ("\n" if several else ""), flush=True)
        batch.clear()

    for line in _lines(args):
        batch.append(line)
        if len(batch) >= 64 or args.input == "-":  # stdin: answer each line as it comes
            flush()
    flush()
    return 0


def chat_command(args, read: Callable[[str], str] = input) -> int:
    from seqgen.inference import TURN_SEPARATOR

    from seqgen.inference import check_request

    if args.turns < 1:
        raise SeqgenError("--turns must be at least 1")
    params = request_params(args)
    try:
        check_request(params)
    except ValueError as err:
        raise SeqgenError(str(err)) from None
    predict = load_predictor(args.model)
    history: list[str] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("seqgen chat: type a line; /reset forgets the context, /quit ends.", file=sys.stderr)
    while True:
        try:
            line = read("you> " if interactive else "").strip()
        except EOFError:
            break
        if line in ("", "/quit"):
            break
        if line == "/reset":
            history.clear()
            continue
        history = (history + [line])[-args.turns:]
        replies = predict([f" {TURN_SEPARATOR} ".join(history)], params)[0]
        history = (history + [replies[0]])[-args.turns:]  # the conversation goes on from the first
        for i, reply in enumerate(replies):
            prefix = "bot> " if i == 0 else f"  {i + 1}> "
            print(f"{prefix}{reply}" if interactive else reply, flush=True)
        if len(replies) > 1 and not interactive:
            print(flush=True)
    return 0


def check_model_name(name: str | None) -> None:
    """Registered names are <task>-<family>: anything else is refused before it reaches a registry query. The tasks
    are the ones params.yaml declares; where there is none (a registry used from another folder), any task name."""
    import re

    from seqgen.config import TASK_NAME, load_params, task_names
    from seqgen.errors import ConfigError
    from seqgen.families import NAMES as FAMILIES

    if name is None:
        return
    try:
        tasks = task_names(load_params())
    except ConfigError:
        if not re.fullmatch(rf"{TASK_NAME.pattern}-({'|'.join(FAMILIES)})", name):
            raise SeqgenError(f"{name!r} is not a seqgen model name: <task>-<family>, the family one of {', '.join(FAMILIES)}") from None
        return
    valid = [f"{task}-{family}" for task in tasks for family in FAMILIES]
    if name not in valid:
        raise SeqgenError(f"{name!r} is not a seqgen model name; one of: {', '.join(valid)}")


def registry_command(args) -> int:
    from seqgen.registry.register import describe, rollback
    from seqgen.tracking import configure

    check_model_name(args.name)
    configure()
    if args.action == "show":
        rows = describe(args.name)
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        if not rows:
            print("no registered models (run `dvc repro` to train, evaluate and register)")
        for row in rows:
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(row["metrics"].items()) if k in ("bleu", "chrf", "bleu_f1", "distinct_2", "ppl"))
            data = ", ".join(f"{path.removeprefix('data/')} {md5[:8]}" for path, md5 in row["data"].items())
            aliases = ",".join(row["aliases"]) or "-"
            print(f"{row['model']:<16} v{row['version']:<3} {aliases:<22} {metrics}  | data {data} | git {str(row['git_commit'])[:8]} "
                  f"| {row['profile']} | gate: {row['gate'] or '-'}")
        return 0
    if args.action == "rollback":
        demoted, restored = rollback(args.name)
        print(f"{args.name}: champion is version {restored} again (version {demoted} demoted)")
        return 0
    return promote_by_hand(args.name, args.version, args.force, Path(args.params))


def promote_by_hand(name: str, version: str, force: bool, params_path: Path) -> int:
    from seqgen.config import from_mapping, load_params, task_section
    from seqgen.registry.gate import GateConfig
    from seqgen.registry.register import gate, registry_lock, test_data_version
    from seqgen.registry.register import reevaluator

    if not str(version).isdigit():
        raise SeqgenError(f"version {version!r}: expected a version number")
    task = name.split("-", 1)[0]
    params = load_params(params_path)
    cfg = from_mapping(GateConfig, task_section(params, task, "registry"), f"tasks.{task}.registry")
    root = Path(".")
    with registry_lock(root):
        result = gate(name, str(version), cfg, test_data_version(root / "data" / "interim" / task), reevaluator(task, params, root), root, force=force)
    print(f"{name} version {version}: {result.decision.reason}; champion: {result.champion_after}")
    return 0 if result.decision.promote or result.champion_after == str(version) else 3


def reproduce_command(args) -> int:
    from seqgen.config import load_params, task_names, task_section
    from seqgen.reproduce import NOT_REPRODUCED, reproduce

    path = Path(args.params)
    params = load_params(path)
    tolerance = {task: task_section(params, task, "reproduce.tolerance", path) for task in task_names(params, path)}
    outcome = reproduce(args.model, Path("."), tolerance=tolerance, keep=args.keep)
    print(outcome.summary())
    return 0 if outcome.reproduced else NOT_REPRODUCED


def profile_command(args) -> int:
    from seqgen import profiles
    from seqgen.config import load_params

    path = Path(args.params)
    params = load_params(path)
    if args.name is None:
        holds = profiles.current(params, path)
        if holds != profiles.CUSTOM:
            print(f"{path} holds the {holds!r} profile")
        else:  # hand edits or `dvc exp run -S`: name the closest profile and what differs from it
            closest = min(profiles.names(params, path), key=lambda name: len(profiles.differences(params, name, path)))
            found = profiles.differences(params, closest, path)
            print(f"{path} holds custom values: {len(found)} differ from the closest profile {closest!r}")
            for key, (value, expected) in found.items():
                print(f"  {key} = {value!r} (profile {closest}: {expected!r})")
        print(f"profiles: {', '.join(profiles.names(params, path))}; switch with `seqgen profile NAME`")
        return 0
    changes = profiles.write(args.name, path)
    print(f"{path}: profile {args.name!r}, {len(changes)} value(s) changed")
    for key, (old, new) in changes.items():
        print(f"  {key}: {old!r} -> {new!r}")
    if changes:
        print("`dvc status` lists the stages they make stale; `dvc repro` rebuilds them (`dvc params diff` shows the change)")
    return 0


def load_pipeline(root: Path = Path(".")):
    """pipelines/retrain.py of the project in `root` (the flows live beside dvc.yaml, not in the package)."""
    import importlib
    import os

    path = (root / "pipelines" / "retrain.py").resolve()
    if not path.is_file():
        raise SeqgenError(f"{path}: not found (run seqgen retrain/schedule from the project root)")
    os.environ.setdefault("PREFECT_HOME", str(path.parents[1] / ".prefect"))  # Prefect's state stays in the project
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")  # a cold start takes 8-16 s here
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Imported by its package name from the project root, so the processes Prefect spawns for served flow
    # runs (which get this sys.path) can import it again.
    sys.path.insert(0, str(path.parents[1]))
    module = importlib.import_module("pipelines.retrain")
    return module


def orchestration_command(args) -> int:
    pipeline = load_pipeline()
    if args.command == "schedule":
        pipeline.serve(cron=args.cron)
        return 0
    state = pipeline.retrain(tasks=args.tasks, families=args.families, profile=args.profile, update=not args.no_update,
                             push=not args.no_push, return_state=True)
    if not state.is_completed():
        print(f"seqgen retrain: {state.name}: {state.message}", file=sys.stderr)
        return 1
    summary = state.result()
    print(f"seqgen retrain: completed; stages run: {', '.join(summary['ran']) or 'none (everything up to date)'}")
    return 0
