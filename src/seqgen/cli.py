"""`seqgen`: the command line. Subcommands import their heavy libraries lazily, so `--help` is instant."""

from __future__ import annotations

import argparse
import sys

from seqgen import __version__
from seqgen.config import TASKS

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
        sub.add_argument("task", choices=TASKS, help="which task's data to process")
        sub.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
        if name == "ingest":
            sub.add_argument("--raw-dir", help="folder with the raw corpus files (default: the DVC import for the task)")
    return parser


RAW_DIRS = {"translation": "data/raw/multi30k", "dialogue": "data/raw/dailydialog"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in STAGES:
        import importlib

        stage = importlib.import_module(f"seqgen.stages.{args.command}")
        stage_argv = [args.task, "--params", args.params]
        if args.command == "ingest":
            stage_argv += ["--raw-dir", args.raw_dir or RAW_DIRS[args.task]]
        return stage.main(stage_argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
