"""Benchmark (issue 29): our decoder and CTranslate2 on the same weights, side by side in one run.

Converts a trained model (default models/translation-mle, the `dvc repro` output) to CTranslate2 in a scratch folder,
then decodes the validation split (where tasks.<task>.engine is chosen) and each test set with both engines, back to back: greedy and beam (the evaluate stage's beam size and
length penalty), ours in fp32 and in the runtime's default precision (bf16 autocast where the CPU has AVX-512 BF16),
CTranslate2 in float32 and int8. Each timing is the best of --repeats runs of the whole test set with --threads
threads; BLEU is sacreBLEU on the detokenised outputs, as the evaluate stage scores them. Targets: ours no slower
than CTranslate2 float32, within 1.2x of int8, at equal BLEU (int8 within 0.3).

    . scripts/env.sh && python bench/bench_ctranslate2.py [--model models/translation-mle] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header, params_with_profile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "translation-mle")
    parser.add_argument("--task", default="translation")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell; the best is reported")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N sentences of each test set (0: all)")
    args = parser.parse_args()

    import sacrebleu
    import torch

    from seqgen import runtime
    from seqgen.ctranslate import Engine, convert
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import Decoding, decode_outputs, encode_sources
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    header(f"python bench/bench_ctranslate2.py --model {args.model} --repeats {args.repeats} --threads {args.threads}"
           + (f" --limit {args.limit}" if args.limit else ""))
    params = params_with_profile()
    cfg = evaluate_config(params, args.task)
    torch.set_num_threads(args.threads)
    loaded = load_model_dir(args.model)
    tokenizer = Tokenizer(loaded.tokenizer_path)
    # Validation first: the engine and its precision (tasks.<task>.engine) are chosen there; the test sets are reported.
    splits = {"valid (chooses)": "valid", **params["tasks"][args.task]["test_sets"]}
    scratch = Path(tempfile.mkdtemp(prefix="seqgen-ct2-"))
    started = time.perf_counter()
    record = convert(args.model, scratch / "ct2")
    print(f"converted {args.model} in {time.perf_counter() - started:.1f} s: model.bin md5 {record['model_bin_md5']} ({record['engine']})")
    print(f"our default precision here: {'bf16 autocast' if runtime.use_bf16('auto', torch.device('cpu')) else 'fp32'}; "
          f"CTranslate2 compute types on this CPU: {sorted(__import__('ctranslate2').get_supported_compute_types('cpu'))}")
    engines = {"ctranslate2 float32": Engine(scratch / "ct2", "float32", args.threads),
               "ctranslate2 int8": Engine(scratch / "ct2", "int8", args.threads)}
    exactness(loaded, tokenizer, engines["ctranslate2 float32"], read_jsonl(PROJECT_ROOT / "data" / "interim" / args.task / "valid.jsonl")[:200])

    def ours(precision: str):
        settings = dataclasses.replace(cfg, precision=precision)
        return lambda sources, request: decode_outputs(loaded, sources, settings, request)

    def theirs(engine: Engine):
        return lambda sources, request: engine.decode(sources, request, cfg.max_output_tokens, cfg.length_penalty, cfg.batch_tokens)

    decoders = {"ours fp32": ours("fp32"), "ours auto": ours("auto"), **{name: theirs(e) for name, e in engines.items()}}
    strategies = {"greedy": Decoding(strategy="greedy"), f"beam {cfg.beam}": Decoding(strategy="beam", beam=cfg.beam)}
    print(f"\n| split | decoding | engine | seconds (best of {args.repeats}) | sentences/s | BLEU | vs ctranslate2 float32 | vs ctranslate2 int8 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, split in splits.items():
        examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / args.task / f"{split}.jsonl")
        if args.limit:
            examples = examples[: args.limit]
        sources = encode_sources(loaded.kind, tokenizer, examples, loaded.seq2seq.cfg.max_len)
        references = [e["target"] for e in examples]
        for label, request in strategies.items():
            rows = {}
            for engine_name, decode in decoders.items():
                best = float("inf")
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    outputs = decode(sources, request)
                    best = min(best, time.perf_counter() - started)
                hypotheses = [text.strip() for text in tokenizer.decode([group[0] for group in outputs])]
                rows[engine_name] = (best, sacrebleu.corpus_bleu(hypotheses, [references]).score)
            for engine_name, (seconds, bleu) in rows.items():
                ratio = lambda other: f"{rows[other][0] / seconds:.2f}x as fast" if other != engine_name else ""
                print(f"| {name} | {label} | {engine_name} | {seconds:.2f} | {len(sources) / seconds:.0f} | {bleu:.2f} | "
                      f"{ratio('ctranslate2 float32')} | {ratio('ctranslate2 int8')} |")
    print("\n(vs X: X's time / this row's time; above 1 this row is faster)")


def exactness(loaded, tokenizer, engine, examples: list[dict]) -> None:
    """How far the converted model's teacher-forced log-probabilities are from ours (fp32), on validation pairs."""
    import torch

    from seqgen.data.tokenization import BOS_ID, EOS_ID, PAD_ID

    def padded(rows):
        out = torch.full((len(rows), max(map(len, rows))), PAD_ID, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
        return out

    max_len = loaded.seq2seq.cfg.max_len
    pairs = [(s, t) for s, t in zip(tokenizer.encode([e["source"] for e in examples]), tokenizer.encode([e["target"] for e in examples]))
             if len(s) <= max_len and len(t) < max_len]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    with torch.no_grad():
        ours = loaded.seq2seq.sequence_log_probs(padded(sources), padded([[BOS_ID] + t for t in targets]), padded([t + [EOS_ID] for t in targets]))
    gaps = [abs(a - b) for a, b in zip(ours.tolist(), engine.sequence_log_probs(sources, targets))]
    per_token = max(gap / (len(t) + 1) for gap, t in zip(gaps, targets))
    print(f"conversion: teacher-forced sentence log-probabilities on {len(pairs)} validation pairs differ by at most {max(gaps):.1e} "
          f"(mean {sum(gaps) / len(gaps):.1e}; {per_token:.1e} a token), ours fp32 against CTranslate2 float32")


if __name__ == "__main__":
    main()
