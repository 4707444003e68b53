"""Stage `tokenize@<task>`: SentencePiece on the train split -> data/processed/<task>/{spm.model,<split>.npz,meta.json}."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from seqgen.config import from_mapping, load_params, task_section, task_spec
from seqgen.errors import DataError
from seqgen.io import read_jsonl, write_json_atomic
from seqgen.stages.common import log, run_stage, task_parser


def require_validated(report_path: Path) -> None:
    """Refuse to tokenize data that did not pass validation (defence beyond DVC's stage order)."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{report_path}: no validation report; run the validate stage first") from None
    if not report.get("success"):
        raise DataError(f"{report_path}: the data failed validation; fix it before tokenizing")


def main(argv: list[str] | None = None) -> int:
    args = task_parser("python -m seqgen.stages.tokenize", __doc__).parse_args(argv)

    def body() -> None:
        from seqgen.data.tokenization import (
            TokenizeConfig,
            Tokenizer,
            encode_split,
            save_encoded,
            train_sentencepiece,
            training_sentences,
        )

        params = load_params(args.params)
        cfg = from_mapping(TokenizeConfig, task_section(params, args.task, "tokenize"), f"tasks.{args.task}.tokenize")
        require_validated(Path("reports/validation") / f"{args.task}.json")
        interim, out = Path("data/interim") / args.task, Path("data/processed") / args.task
        splits = {p.stem: read_jsonl(p) for p in sorted(interim.glob("*.jsonl"))}
        kind = task_spec(params, args.task, args.params).kind
        sentences = training_sentences(kind, splits["train"])
        log("tokenize", f"{args.task}: training SentencePiece ({cfg.model_type}, {cfg.vocab_size}) on {len(sentences)} train sentences")
        train_sentencepiece(sentences, out / "spm.model", cfg)
        tokenizer = Tokenizer(out / "spm.model")
        meta = {"task": args.task, "vocab_size": tokenizer.vocab_size, "sep_id": tokenizer.sep_id, "splits": {}}
        for name, examples in splits.items():
            encoded = encode_split(tokenizer, kind, examples)
            save_encoded(out / f"{name}.npz", encoded)
            meta["splits"][name] = {
                "examples": len(encoded),
                "source_tokens": int(encoded.source_lengths().sum()),
                "target_tokens": int(encoded.target_lengths().sum()),
            }
            log("tokenize", f"{args.task}/{name}: {meta['splits'][name]}")
        write_json_atomic(out / "meta.json", meta)

    return run_stage(f"tokenize@{args.task}", body)


if __name__ == "__main__":
    sys.exit(main())
