"""Tune the translation MLE recipe on the validation split only (issue 7).

Each --variant overrides dotted keys of the profiled params (e.g. "tasks.translation.model.dropout=0.2" or
"tasks.translation.train.mle.trainer.lr=0.002"; "" = the profile as it stands) and trains the MLE from scratch in
its own scratch root under bench/out/tune-translation/ (the workspace's models/ and dvc.lock are left alone).
Training follows the train stage step for step (same batches, schedule and seeds; the validation passes,
which do not touch the random state, are skipped), keeping a snapshot of the weights every steps/--snapshots
steps. Each variant is then scored on VALIDATION with the evaluate stage's beam search, for
  final        the weights after the last step,
  avg<k>       the mean of the last k snapshots (checkpoint averaging, Vaswani et al. 2017),
at each --decode beam:length_penalty. With --model instead of --variant, a trained model (e.g. models/translation-mle)
is scored at each --decode setting, with no training: the decoding knobs, chosen on validation. --jobs trains variants side by side in separate processes: on a GPU
several fit at once; on this 2-core CPU keep --jobs 1. Run:
    . scripts/env.sh && python bench/tune_translation.py --profile full --variant "" --variant "train.run.seed=99"
    . scripts/env.sh && python bench/tune_translation.py --model models/translation-mle --decode 5:0.6 5:1.0 10:1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, data_root, evaluate_config, header, params_with_profile, parse_variant  # noqa: E402

OUT = PROJECT_ROOT / "bench" / "out" / "tune-translation"
TASK = "translation"


def profiled_params(profile: str | None, overrides: dict[str, str]) -> dict:
    """params.yaml with the profile and then the variant's overrides applied (values parsed as YAML); every
    override must name an existing key."""
    import yaml

    from seqgen.config import section
    from seqgen.errors import ConfigError

    params = params_with_profile(profile)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = section(params, ".".join(parents))
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"variant: {dotted!r} does not name an existing key of params.yaml")
        node[leaf] = yaml.safe_load(value)
    return params


def validation_bleu(loaded, cfg, settings: list[str]) -> dict[str, float]:
    """sacreBLEU of the evaluate stage's decoding on the validation split, for each "beam:length_penalty"."""
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import decode, encode_sources
    from seqgen.evaluation.metrics import corpus_bleu
    from seqgen.io import read_jsonl

    examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / "valid.jsonl")
    references = [e["target"] for e in examples]
    tokenizer = Tokenizer(loaded.tokenizer_path)
    sources = encode_sources(TASK, tokenizer, examples, loaded.seq2seq.cfg.max_len)
    scores = {}
    for setting in settings:
        beam, alpha = setting.split(":")
        outputs = decode(loaded, sources, dataclasses.replace(cfg, length_penalty=float(alpha)), beam=int(beam))
        scores[f"b{beam} lp{alpha}"] = corpus_bleu(tokenizer.decode(outputs), references)[0]
    return scores


def run_variant(index: int, overrides: dict[str, str], args: argparse.Namespace) -> dict:
    """Train one variant and score its weight sets on validation; runs in a worker process."""
    from seqgen.models.store import LoadedModel
    from seqgen.training.job import build_job
    from seqgen.training.trainer import Trainer, average_state_dicts

    name = ",".join(f"{k}={v}" for k, v in overrides.items()) or "(profile)"
    params = profiled_params(args.profile, overrides)
    cfg = evaluate_config(params, TASK)
    root = data_root(OUT / f"variant-{index}", TASK)
    job, _, tokenizer_path, _ = build_job(TASK, "mle", params, root)
    trainer = Trainer(job)
    steps = job.cfg.steps
    every = max(1, steps // args.snapshots)
    snapshots: list[dict] = []
    started = time.perf_counter()
    while trainer.step < steps:
        if args.max_train_minutes and time.perf_counter() - started > 60 * args.max_train_minutes:
            print(f"[{name}] stopped at step {trainer.step}/{steps}: --max-train-minutes reached", file=sys.stderr, flush=True)
            break
        batch = next(trainer.stream)
        trainer.train_step(batch)
        trainer.step += 1
        if trainer.step % every == 0 and trainer.step > steps - every * args.snapshots:
            snapshots.append({k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()})
        if trainer.step % max(1, steps // 4) == 0:
            print(f"[{name}] step {trainer.step}/{steps}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    train_seconds = time.perf_counter() - started

    weight_sets = {"final": {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}}
    weight_sets.update({f"avg{k}": average_state_dicts(snapshots[-k:]) for k in args.average if k <= len(snapshots)})
    model = trainer.model
    model.eval()
    scores: dict[str, float] = {}
    for label, state in weight_sets.items():
        model.load_state_dict({k: v.to(next(model.parameters()).device) for k, v in state.items()})
        loaded = LoadedModel(task=TASK, family="mle", model=model, config={}, tokenizer_path=tokenizer_path)
        scores.update({f"{label} {k}": v for k, v in validation_bleu(loaded, cfg, args.decode).items()})
    result = {"index": index, "variant": name, "steps": trainer.step, "planned_steps": steps, "train_minutes": round(train_seconds / 60, 2), "device": str(trainer.device),
              "tokens_per_s": round(trainer.tokens_seen / train_seconds, 1), "valid_bleu": scores}
    (OUT / f"variant-{index}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)
    return result


def score_model(args: argparse.Namespace) -> None:
    from seqgen.models.store import load_model_dir

    if not (args.model / "model.pt").is_file():
        sys.exit(f"{args.model}: no model.pt (train it first, e.g. `dvc repro train-mle@translation`)")
    loaded = load_model_dir(args.model)
    loaded.model.eval()
    started = time.monotonic()
    scores = validation_bleu(loaded, evaluate_config(params_with_profile(args.profile), TASK), args.decode)
    print(f"\n{args.model}, validation BLEU (sacreBLEU, {(time.monotonic() - started) / 60:.1f} min)")
    for setting, bleu in scores.items():
        print(f"{setting:<16}{bleu:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="score this trained model directory at each --decode setting (no training)")
    what.add_argument("--variant", type=parse_variant, action="append",
                        help='overrides of the profiled params, "dotted.key=value,..."; "" = the profile as it stands (repeatable)')
    parser.add_argument("--profile", help="params profile (default: params.yaml's `profile`)")
    parser.add_argument("--snapshots", type=int, default=30, help="a snapshot every steps/N steps, the last max(--average) kept (default 30)")
    parser.add_argument("--average", type=int, nargs="+", default=[5, 10], help="average the last k snapshots, for each k (default 5 10)")
    parser.add_argument("--decode", nargs="+", default=["5:0.6"], help="beam:length_penalty settings to score (default 5:0.6)")
    parser.add_argument("--max-train-minutes", type=float, default=0,
                        help="stop a variant's training after this long (its schedule unfinished: flagged by steps < planned); 0: no limit")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at once, each in its own process (default 1)")
    args = parser.parse_args()
    header(shlex.join(["python", "bench/tune_translation.py", *sys.argv[1:]]))
    if args.model:
        score_model(args)
        return
    from seqgen.errors import ConfigError

    for overrides in args.variant:  # fail on a typo before any training starts
        try:
            profiled_params(args.profile, overrides)
        except ConfigError as err:
            sys.exit(f"--variant: {err}")
    OUT.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_variant, i, overrides, args) for i, overrides in enumerate(args.variant)]
        for future in as_completed(futures):
            results.append(future.result())
    settings = list(results[0]["valid_bleu"])
    print(f"\ntranslation MLE, validation BLEU (sacreBLEU, {len(args.variant)} variants, {(time.monotonic() - started) / 60:.1f} min)")
    print(f"{'variant':<60}{'steps':>7}{'minutes':>9}{'tok/s':>9}" + "".join(f"{s:>20}" for s in settings))
    for r in sorted(results, key=lambda r: r["index"]):
        print(f"{r['variant']:<60}{r['steps']:>7}{r['train_minutes']:>9}{r['tokens_per_s']:>9.0f}" + "".join(f"{r['valid_bleu'].get(s, float('nan')):>20.2f}" for s in settings))


if __name__ == "__main__":
    main()
