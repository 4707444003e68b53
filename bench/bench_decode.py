"""Benchmark: decoding test_2016_flickr (1,000 sentences) with the trained translation model, greedy and
beam 5, batched across sentences with the incremental (cached keys/values) decoder.
Targets (issue 4): greedy <= 3 s, beam 5 <= 10 s on this machine.

Needs models/translation-mle (dvc repro train-mle@translation). Run:
    . scripts/env.sh && python bench/bench_decode.py [--model models/translation-mle]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/translation-mle")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)
    header(" ".join(["python bench/bench_decode.py", *sys.argv[1:]]))
    torch.set_num_threads(args.threads)

    from seqgen.config import from_mapping, load_params, task_section
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import EvaluateConfig, decode, encode_sources
    from seqgen.evaluation.metrics import corpus_bleu
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    loaded = load_model_dir(Path(args.model))
    cfg = from_mapping(EvaluateConfig, task_section(load_params(), "translation", "evaluate"), "tasks.translation.evaluate")
    tokenizer = Tokenizer(loaded.tokenizer_path)
    examples = read_jsonl(Path("data/interim/translation/test.jsonl"))
    sources = encode_sources("translation", tokenizer, examples, loaded.seq2seq.cfg.max_len)
    references = [e["target"] for e in examples]
    decode(loaded, sources[:50], cfg, beam=cfg.beam)  # warm-up
    for label, beam, target in (("greedy", 1, 3.0), (f"beam {cfg.beam}", cfg.beam, 10.0)):
        started = time.perf_counter()
        outputs = decode(loaded, sources, cfg, beam=beam)
        elapsed = time.perf_counter() - started
        bleu, _ = corpus_bleu(tokenizer.decode(outputs), references)
        print(f"{label:>7}: {len(sources)} sentences in {elapsed:.2f} s = {len(sources) / elapsed:.0f} sentences/s "
              f"(target <= {target:.0f} s); BLEU {bleu:.2f}")


if __name__ == "__main__":
    main()
