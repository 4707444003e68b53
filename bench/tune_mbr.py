"""Minimum Bayes risk (MBR) decoding for translation, chosen on validation (issue 7's BLEU targets).

Beam search returns the most probable output; MBR returns the candidate that agrees most with the others,
i.e. the one with the highest expected BLEU if the candidates stand in for the model's distribution (Kumar &
Byrne 2004; Eikema & Aziz 2020). For every source, the candidates are the evaluate stage's beam output, the
greedy output and N samples at temperature T (top-p as given); each candidate's utility is its mean smoothed
sentence BLEU (13a tokens, add-one smoothing for n > 1) against all the other candidates, and the best one is
the output. Scored with the evaluate stage's corpus sacreBLEU. Run it on --split valid to choose N and T; the
test sets are for reporting the setting chosen there, once. Run:
    . scripts/env.sh && python bench/tune_mbr.py --split valid --settings 16:0.5:1.0 16:1.0:0.9
    . scripts/env.sh && python bench/tune_mbr.py --split test --settings 16:0.5:1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header, params_with_profile  # noqa: E402

TASK = "translation"
SPLITS = ("valid", "test")  # test: the evaluate stage's test sets (TEST_SETS), for reporting a chosen setting


def ngram_counts(text: str, tokenize) -> tuple[int, list[Counter]]:
    """Length in 13a tokens and the 1- to 4-gram counts of a sentence."""
    words = tokenize(text).split()
    return len(words), [Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1)) for n in range(1, 5)]


def sentence_bleu(hyp: tuple[int, list[Counter]], ref: tuple[int, list[Counter]]) -> float:
    """Smoothed sentence BLEU (add-one for n > 1, Lin & Och 2004), 0-1: MBR's utility, not a reported score."""
    hyp_len, hyp_grams = hyp
    ref_len, ref_grams = ref
    if hyp_len == 0:
        return 0.0
    log_precision = 0.0
    for n, (h, r) in enumerate(zip(hyp_grams, ref_grams)):
        matches = sum((h & r).values())
        total = max(hyp_len - n, 0)
        smooth = 0 if n == 0 else 1
        if matches + smooth == 0 or total + smooth == 0:
            return 0.0
        log_precision += math.log((matches + smooth) / (total + smooth)) / 4
    brevity = min(0.0, 1 - ref_len / hyp_len)
    return math.exp(log_precision + brevity)


def mbr_pick(candidates: list[str], tokenize) -> str:
    """The candidate with the highest mean utility against the other candidates (duplicates count: they are
    the model saying the same thing more than once)."""
    counted = [ngram_counts(c, tokenize) for c in candidates]
    best, best_utility = candidates[0], -1.0
    for i, hyp in enumerate(counted):
        utility = sum(sentence_bleu(hyp, ref) for j, ref in enumerate(counted) if j != i)
        if utility > best_utility:
            best, best_utility = candidates[i], utility
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "translation-mle",
                        help="trained translation model directory (default: models/translation-mle)")
    parser.add_argument("--split", choices=SPLITS, default="valid", help="valid (choosing) or test (reporting; default valid)")
    parser.add_argument("--settings", nargs="+", default=["16:0.5:1.0"],
                        help="samples:temperature:top_p of the sampled candidates, one MBR run each (default 16:0.5:1.0)")
    parser.add_argument("--profile", help="params profile for the evaluate stage's decoding (default: params.yaml's `profile`)")
    args = parser.parse_args()
    if not (args.model / "model.pt").is_file():
        sys.exit(f"{args.model}: no model.pt (train it first, e.g. `dvc repro train-mle@translation`)")
    settings = []
    for text in args.settings:
        try:
            samples, temperature, top_p = text.split(":")
            settings.append((int(samples), float(temperature), float(top_p)))
        except ValueError:
            sys.exit(f"--settings {text!r}: expected samples:temperature:top_p, e.g. 16:0.5:1.0")
    header(shlex.join(["python", "bench/tune_mbr.py", *sys.argv[1:]]))

    import torch
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from tqdm import tqdm

    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import TEST_SETS, decode, encode_sources
    from seqgen.evaluation.metrics import corpus_bleu
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    cfg = evaluate_config(params_with_profile(args.profile), TASK)
    loaded = load_model_dir(args.model)
    loaded.model.eval()
    tokenizer = Tokenizer(loaded.tokenizer_path)
    tokenize = Tokenizer13a()

    rows = []
    splits = {"valid": "valid"} if args.split == "valid" else TEST_SETS[TASK]
    for name, split in splits.items():
        examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / f"{split}.jsonl")
        references = [e["target"] for e in examples]
        sources = encode_sources(TASK, tokenizer, examples, loaded.seq2seq.cfg.max_len)
        beam = tokenizer.decode(decode(loaded, sources, cfg, beam=cfg.beam))
        greedy = tokenizer.decode(decode(loaded, sources, cfg))
        rows.append((name, f"beam {cfg.beam} (the evaluate stage)", corpus_bleu(beam, references)[0], 0.0))
        for samples, temperature, top_p in settings:
            started = time.monotonic()
            torch.manual_seed(cfg.seed)  # the same draws for a setting on every run
            sampling = dataclasses.replace(cfg, temperature=temperature, top_k=0, top_p=top_p)
            drawn = [tokenizer.decode(decode(loaded, sources, sampling, sample=True))
                     for _ in tqdm(range(samples), desc=f"{name} T={temperature} top-p {top_p}: sampling", leave=False)]
            outputs = [mbr_pick([beam[i], greedy[i], *(d[i] for d in drawn)], tokenize)
                       for i in tqdm(range(len(sources)), desc=f"{name}: MBR", leave=False)]
            label = f"MBR: beam + greedy + {samples} samples, T={temperature}, top-p {top_p}"
            rows.append((name, label, corpus_bleu(outputs, references)[0], time.monotonic() - started))

    print(f"\n{args.model}, corpus sacreBLEU (13a, cased, detokenised)")
    for name, label, bleu, seconds in rows:
        print(f"{name:<18}{label:<62}{bleu:>8.2f}" + (f"{seconds:>8.0f} s" if seconds else ""))


if __name__ == "__main__":
    main()
