"""A translation model's test BLEU under the conventions published Multi30k figures use (issue 7's anchors).

The evaluate stage reports sacreBLEU with its defaults: 13a tokenisation, cased, on detokenised text. Many
published Multi30k figures, the issue's anchors among them, are "tokenised BLEU" instead: hypothesis and
reference Moses-tokenised first (the WMT16 multimodal task also distributed lower-cased, tokenised files),
then scored on those tokens as multi-bleu.perl does. That splits more punctuation and clitics off, so it finds
more matching n-grams and reads higher. This script decodes the model's output once per test set, exactly as
the evaluate stage does (its detokenised score is printed first, as a check against metrics/translation-<family>.json), and scores
that one output under each convention. Test sets are only reported here, never tuned on.

The last convention is the evaluate stage's bleu_lc_tok (seqgen.evaluation.metrics). Run:
    . scripts/env.sh && python bench/bleu_conventions.py --model models/translation-mle
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header, params_with_profile  # noqa: E402

TASK = "translation"


def scores(hypotheses: list[str], references: list[str], lang: str) -> dict[str, float]:
    """BLEU of one output under each convention; "tokenize=none" on Moses tokens is multi-bleu.perl's BLEU."""
    from sacrebleu.metrics import BLEU
    from sacremoses import MosesTokenizer

    from seqgen.evaluation.metrics import tokenised_lowercased_bleu

    moses = MosesTokenizer(lang=lang)

    def bleu(hyps: list[str], refs: list[str], **options) -> float:
        return float(BLEU(**options).corpus_score(hyps, [refs]).score)

    def tokenised(texts: list[str]) -> list[str]:
        return [moses.tokenize(text, escape=False, return_str=True) for text in texts]

    hyp_tok, ref_tok = tokenised(hypotheses), tokenised(references)
    return {
        "sacreBLEU 13a, cased, detokenised (the evaluate stage)": bleu(hypotheses, references),
        "sacreBLEU 13a, lower-cased": bleu(hypotheses, references, lowercase=True),
        "sacreBLEU intl, cased": bleu(hypotheses, references, tokenize="intl"),
        "Moses-tokenised, cased (multi-bleu.perl)": bleu(hyp_tok, ref_tok, tokenize="none", force=True),
        "Moses-tokenised, lower-cased (multi-bleu.perl -lc; the evaluate stage's bleu_lc_tok)": tokenised_lowercased_bleu(hypotheses, references, lang)[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "translation-mle",
                        help="trained translation model directory (default: models/translation-mle)")
    parser.add_argument("--profile", help="params profile for the evaluate stage's decoding (default: params.yaml's `profile`)")
    args = parser.parse_args()
    if not (args.model / "model.pt").is_file():
        sys.exit(f"{args.model}: no model.pt (train it first, e.g. `dvc repro train-mle@translation`)")
    header(shlex.join(["python", "bench/bleu_conventions.py", *sys.argv[1:]]))

    from seqgen.data.tokenization import Tokenizer
    from seqgen.config import task_spec
    from seqgen.evaluation.evaluate import decode, encode_sources
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    params = params_with_profile(args.profile)
    cfg = evaluate_config(params, TASK)
    lang = params["tasks"][TASK]["data"]["target_lang"]
    loaded = load_model_dir(args.model)
    loaded.model.eval()
    tokenizer = Tokenizer(loaded.tokenizer_path)

    table: dict[str, dict[str, float]] = {}
    for test_set, split in task_spec(params, TASK).test_sets.items():
        examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / f"{split}.jsonl")
        sources = encode_sources(TASK, tokenizer, examples, loaded.seq2seq.cfg.max_len)
        hypotheses = tokenizer.decode(decode(loaded, sources, cfg, beam=cfg.beam))
        table[test_set] = scores(hypotheses, [e["target"] for e in examples], lang)

    print(f"\n{args.model}, beam {cfg.beam}, length penalty {cfg.length_penalty}")
    print(f"{'convention':<56}" + "".join(f"{name:>20}" for name in table))
    for convention in next(iter(table.values())):
        print(f"{convention:<56}" + "".join(f"{table[name][convention]:>20.2f}" for name in table))


if __name__ == "__main__":
    main()
