"""`seqgen`: the command line. Subcommands import their heavy libraries lazily, so `--help` is instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqgen import __version__, families
from seqgen.paths import project_file

STAGES = {
    "ingest": "read the raw corpus files, normalise, write data/interim/<task>/*.jsonl",
    "validate": "run the Great Expectations suite over data/interim/<task> (non-zero exit on failure)",
    "tokenize": "train SentencePiece on train and encode every split into data/processed/<task>",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqgen",
        description="Reproducible pipeline for generative text models (translation: Multi30k en-de; "
        "dialogue: DailyDialog). The full pipeline runs with `dvc repro`; these commands run one step.",
    )
    parser.add_argument("--version", action="version", version=f"seqgen {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in STAGES.items():
        sub = commands.add_parser(name, help=help_text, description=help_text.capitalize() + ".")
        sub.add_argument("task", help=f"which task's data to process: {declared_tasks()}")
        sub.add_argument("--params", default="params.yaml", type=project_file, help="params file (default: %(default)s)")
        if name == "ingest":
            sub.add_argument("--raw-dir", help="folder with the raw corpus files (default: tasks.<task>.corpus.path, the DVC import)")
    profile = commands.add_parser("profile", help="show or switch the profile whose values params.yaml holds (default, full, tiny)",
                                  description="Without NAME: say which profile the values in params.yaml match. With NAME: write "
                                  "that profile's column of the `profiles` table into params.yaml (comments kept), so that "
                                  "`dvc repro` / `dvc exp run` train with it and dvc.lock records every value that trained.")
    profile.add_argument("name", nargs="?", help="profile to write into params.yaml")
    profile.add_argument("--params", default="params.yaml", type=project_file, help="params file (default: %(default)s)")
    add_registry_commands(commands)
    add_reproduce_command(commands)
    add_model_commands(commands)
    add_orchestration_commands(commands)
    add_web_command(commands)
    commands.add_parser("serve", add_help=False, help="serve a model over REST with Ray Serve, batching concurrent requests "
                        "(same API as `mlflow models serve`; `seqgen serve --help` for its options)")
    return parser


def declared_tasks(path: str = "params.yaml") -> str:
    """The task names params.yaml declares, for --help (what to do where there is no readable params file)."""
    from seqgen.config import load_params, task_names
    from seqgen.errors import ConfigError

    try:
        return f"{', '.join(task_names(load_params(Path(path))))} (the names under `tasks:` in {path})"
    except ConfigError:
        return f"a name under `tasks:` in {path} (run from the project root)"


def add_orchestration_commands(commands) -> None:
    retrain = commands.add_parser("retrain", help="run the Prefect retrain flow once, here (no server to start)",
                                  description="dvc update of the data imports, the stale DVC stages of the chosen models in "
                                  "DAG order, the promotion gate, a report artifact, and `dvc push --run-cache` (pipelines/retrain.py). Without "
                                  "PREFECT_API_URL a temporary Prefect server starts and stops by itself.")
    retrain.add_argument("--tasks", nargs="+", help=f"tasks to rebuild (default: all; {declared_tasks()})")
    retrain.add_argument("--families", nargs="+", choices=families.NAMES, default=list(families.NAMES), help="model families (default: all)")
    retrain.add_argument("--profile", help="profile to write into params.yaml first, as `seqgen profile` does (default: keep)")
    retrain.add_argument("--no-update", action="store_true", help="skip `dvc update` of the data imports")
    retrain.add_argument("--no-push", action="store_true", help="skip `dvc push --run-cache` to the DVC remote at the end")
    schedule = commands.add_parser("schedule", help="serve the scheduled retrain deployment (needs a Prefect server)",
                                   description="Create the deployment retrain/scheduled-retrain with the cron schedule of "
                                   "params.yaml `schedule` and run its flow runs until stopped (Ctrl-C). Start a server first: "
                                   "`prefect server start`, and export PREFECT_API_URL=http://127.0.0.1:4200/api.")
    schedule.add_argument("--cron", help="override params.yaml schedule.cron")


def add_registry_commands(commands) -> None:
    registry = commands.add_parser("registry", help="the MLflow Model Registry: show, promote, roll back",
                                   description="Inspect and change the champion of the registered models "
                                   "(the store: MLFLOW_TRACKING_URI, default the project's mlflow.db).")
    actions = registry.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="versions, aliases, metrics, data version and gate decision of each model")
    show.add_argument("name", nargs="?", help="one registered model, e.g. translation-gan (default: all)")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    promote = actions.add_parser("promote", help="make VERSION the champion, if it passes the promotion gate",
                                 description="Run the promotion gate for one version by hand (params: registry.<task>); "
                                 "the champion is re-evaluated on the current test data where it was measured on other data.")
    promote.add_argument("name", help="registered model, e.g. translation-gan")
    promote.add_argument("version", help="version number")
    promote.add_argument("--force", action="store_true", help="promote even if the gate refuses (recorded as forced)")
    promote.add_argument("--params", default="params.yaml", type=project_file, help="params file (default: %(default)s)")
    rollback = actions.add_parser("rollback", help="give the champion alias back to the previous champion",
                                  description="Restore the version the current champion replaced (from the audit trail).")
    rollback.add_argument("name", help="registered model, e.g. translation-gan")


def add_reproduce_command(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="rebuild a registered model from its lineage and say whether the bytes match",
        description="From the version's lineage alone (git commit, data md5s, the train stage's params): a scratch git worktree "
        "at that commit, that data version from the DVC remote, the train stage retrained from scratch; then the rebuilt "
        "model's md5 against the registered one (equal on the same machine kind) and, where they differ, its metrics "
        "within tasks.<task>.reproduce.tolerance of params.yaml. The outcome is tagged on the version (reproduce.*). The workspace "
        "is not touched; the worktree and its caches are removed. Exit 0: reproduced; 4: rebuilt but not reproduced; "
        "1: it could not be rebuilt (the message says what is missing).",
        epilog="examples: seqgen reproduce translation-mle/1; seqgen reproduce dialogue-vae@champion")
    reproduce.add_argument("model", metavar="NAME[@ALIAS|/VERSION]", help="a registered version (NAME alone: its champion)")
    reproduce.add_argument("--keep", action="store_true", help="keep the scratch worktree and cache (their path is printed)")
    reproduce.add_argument("--params", default="params.yaml", type=project_file, help="params file with tasks.<task>.reproduce.tolerance (default: %(default)s)")


def add_model_commands(commands) -> None:
    translate = commands.add_parser("translate", help="translate English sentences to German with a registered model",
                                    description="Translate sentences given as arguments, or one per line from --input "
                                    "(- for stdin); prints one translation per line.")
    translate.add_argument("sentences", nargs="*", help="sentences to translate")
    translate.add_argument("--input", help="file with one sentence per line, - for stdin")
    translate.add_argument("--model", default="models:/translation-gan@champion",
                           help="MLflow model URI or a trained model folder (default: %(default)s)")
    add_decoding_flags(translate)
    chat = commands.add_parser("chat", help="talk to a registered dialogue model (a REPL)",
                               description="Type a line, get a response; the last turns are the context. "
                               "/reset forgets the context; /quit, an empty line or Ctrl-D ends.")
    chat.add_argument("--model", default="models:/dialogue-gan@champion",
                      help="MLflow model URI or a trained model folder (default: %(default)s)")
    chat.add_argument("--turns", type=int, default=3, help="context turns kept (default: %(default)s)")
    add_decoding_flags(chat)


def add_decoding_flags(command) -> None:
    """The request params of a registered model (seqgen.inference.PARAMS); unset: the model's own defaults
    (params.yaml tasks.<task>.serve when it was registered)."""
    group = command.add_argument_group("decoding (default: the model's own, from tasks.<task>.serve in params.yaml)")
    group.add_argument("--num-outputs", type=int, metavar="N", help="outputs per input, 1-20 (beam: the N best; printed as N lines and an empty line)")
    group.add_argument("--sample", action="store_true", help="sample tokens instead of the model's default decoding (same as --strategy sample)")
    group.add_argument("--strategy", choices=("beam", "greedy", "sample"), help="beam search, greedy, or token sampling")
    group.add_argument("--beam", type=int, help="beam size, 1-16")
    group.add_argument("--temperature", type=float, help="sampling temperature, above 0 (lower: safer, higher: more varied)")
    group.add_argument("--top-k", type=int, help="sampling: keep the k most likely tokens (0: all)")
    group.add_argument("--top-p", type=float, help="sampling: nucleus mass in (0, 1]")
    group.add_argument("--latent", choices=("mean", "sample"), help="VAE: decode from the prior mean, or a prior draw for each output")
    group.add_argument("--prior-scale", type=float, help="VAE, --latent sample: widen (>1) or narrow (<1) the prior draw")
    group.add_argument("--seed", type=int, help="seed of the draws: the same seed gives the same outputs")


def add_web_command(commands) -> None:
    web = commands.add_parser(
        "web", help="a web page for trying one task's mle, vae and gan champions side by side (Gradio)",
        description="Serve a page where you type a sentence (translation) or a turn (dialogue) and see each family's "
        "champion answer with several alternatives, in one column per family, with the same decoding settings. "
        "A family with no champion shows why; a bad setting shows its error message. Needs no MLflow server (the "
        "store: MLFLOW_TRACKING_URI, default the project's mlflow.db). Local only: no share link, no analytics. "
        "Ctrl-C stops it.",
        epilog="examples: seqgen web --task translation; "
        "seqgen web --task dialogue --model mle=models/dialogue-mle --port 8080")
    web.add_argument("--task", required=True, help=f"whose models to serve: {declared_tasks()}")
    web.add_argument("--model", action="append", default=[], metavar="FAMILY=URI", dest="models",
                     help=f"serve this model for FAMILY ({', '.join(families.NAMES)}) instead of its champion "
                     "models:/<task>-<family>@champion: an MLflow model URI or a trained model folder "
                     "(e.g. mle=models/translation-mle); repeat for several families")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; 0.0.0.0: every interface)")
    web.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")


def web_command(args) -> int:
    from seqgen.config import load_params, task_spec
    from seqgen.errors import SeqgenError

    overrides = {}
    for item in args.models:
        family, _, uri = item.partition("=")
        if family not in families.NAMES or not uri:
            raise SeqgenError(f"--model {item!r}: expected FAMILY=URI with FAMILY one of {', '.join(families.NAMES)}")
        overrides[family] = uri
    kind = task_spec(load_params(), args.task).kind
    from seqgen.web import serve

    serve(args.task, kind, overrides, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # its own parser (seqgen.serving), which imports Ray: only when serving
        from seqgen import serving

        return serving.main(argv[1:], prog="seqgen serve")
    args = build_parser().parse_args(argv)
    if args.command in STAGES:
        import importlib

        stage = importlib.import_module(f"seqgen.stages.{args.command}")
        stage_argv = [args.task, "--params", str(args.params)]
        if args.command == "ingest" and args.raw_dir:
            stage_argv += ["--raw-dir", args.raw_dir]
        return stage.main(stage_argv)
    from seqgen.errors import SeqgenError

    try:
        if args.command == "registry":
            from seqgen.commands import registry_command

            return registry_command(args)
        if args.command == "reproduce":
            from seqgen.commands import reproduce_command

            return reproduce_command(args)
        if args.command == "profile":
            from seqgen.commands import profile_command

            return profile_command(args)
        if args.command in ("retrain", "schedule"):
            from seqgen.commands import orchestration_command

            return orchestration_command(args)
        if args.command == "web":
            return web_command(args)
        from seqgen.commands import chat_command, translate_command

        return translate_command(args) if args.command == "translate" else chat_command(args)
    except SeqgenError as err:
        print(f"seqgen {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
