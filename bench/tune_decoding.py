"""Choose the dialogue sampling knobs on the VALIDATION split (issue 7): BLEU-F1 against diversity.

The DialogWAE protocol scores k sampled responses per context: recall = the best sample's sentence BLEU,
precision = the samples' mean. Hotter sampling raises recall and distinct-n and lowers precision; greedy
decoding (T -> 0: k identical responses) is the other end. This script decodes the first --contexts validation
contexts k times at each setting with the evaluate stage's own decoding and metrics and prints
BLEU-P/R/F1 and distinct-1/2, so `tasks.dialogue.evaluate.temperature` / `top_p` are picked without the test set.
Uses the workspace's models/dialogue-<family> (default: mle). Run:
    . scripts/env.sh && python bench/tune_decoding.py --settings 1.0:0.9 0.7:0.9 0.5:1.0 --samples 10
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header  # noqa: E402

TASK, SPLIT = "dialogue", "valid"


def parse_setting(text: str) -> tuple[float, float]:
    """"T:P" -> (temperature, top_p); T > 0, 0 < P <= 1."""
    try:
        temperature, top_p = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected TEMPERATURE:TOP_P, e.g. 0.7:0.9") from None
    if temperature <= 0 or not 0 < top_p <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: needs temperature > 0 and 0 < top_p <= 1")
    return temperature, top_p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=parse_setting, nargs="+", default=[(1.0, 0.9), (0.7, 0.9), (0.5, 1.0)],
                        help="TEMPERATURE:TOP_P pairs to sample with (default 1.0:0.9 0.7:0.9 0.5:1.0)")
    parser.add_argument("--samples", type=int, default=10, help="responses per context (default 10, DialogWAE)")
    parser.add_argument("--contexts", type=int, default=500, help="validation contexts decoded (default 500)")
    parser.add_argument("--family", default="mle", choices=["mle", "gan"], help="models/dialogue-<family> (default mle)")
    args = parser.parse_args()
    if args.samples < 1 or args.contexts < 1:
        parser.error("--samples and --contexts must be >= 1")
    header(shlex.join(["python", "bench/tune_decoding.py", *sys.argv[1:]]))

    import torch

    from seqgen.config import load_params
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import decode, encode_sources
    from seqgen.evaluation.metrics import distinct_n, multi_sample_bleu
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    params = load_params(PROJECT_ROOT / "params.yaml")
    cfg = evaluate_config(params, TASK)
    model_dir = PROJECT_ROOT / "models" / f"{TASK}-{args.family}"
    if not (model_dir / "model.pt").is_file():
        sys.exit(f"{model_dir}: no model.pt; run `dvc repro train-{args.family}@{TASK}` first")
    loaded = load_model_dir(model_dir)
    tokenizer = Tokenizer(loaded.tokenizer_path)
    examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / f"{SPLIT}.jsonl")[: args.contexts]
    references = [e["target"] for e in examples]
    sources = encode_sources(TASK, tokenizer, examples, loaded.seq2seq.cfg.max_len)

    def row(name: str, outputs: list[list[str]]) -> None:
        per_context = [list(group) for group in zip(*outputs)]
        scores = multi_sample_bleu(per_context, references)
        flat = [s for group in per_context for s in group]
        print(f"{name:<18}{scores['bleu_precision']:>8.4f}{scores['bleu_recall']:>8.4f}{scores['bleu_f1']:>8.4f}"
              f"{scores['bleu_f1_nltk34']:>10.4f}{distinct_n(flat, 1):>8.4f}{distinct_n(flat, 2):>8.4f}", flush=True)

    print(f"\n{model_dir.name} on {len(examples)} {SPLIT} contexts, {args.samples} responses each")
    print(f"{'decoding':<18}{'P':>8}{'R':>8}{'F1':>8}{'F1 nltk34':>10}{'dist-1':>8}{'dist-2':>8}")
    torch.manual_seed(cfg.seed)
    row("greedy (T->0)", [tokenizer.decode(decode(loaded, sources, cfg))] * args.samples)
    for temperature, top_p in args.settings:
        run_cfg = dataclasses.replace(cfg, temperature=temperature, top_k=0, top_p=top_p)
        torch.manual_seed(cfg.seed)  # every setting draws from the same seed, as the evaluate stage does
        row(f"T={temperature:g} p={top_p:g}", [tokenizer.decode(decode(loaded, sources, run_cfg, sample=True)) for _ in range(args.samples)])


if __name__ == "__main__":
    main()
