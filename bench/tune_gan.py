"""The adversarial family's honest uses, against a control, on the VALIDATION split only (issue 30).

Every arm fine-tunes the task's trained MLE (models/translation-mle, the GAN's warm start) for the same --steps
with the GAN stage's trainer settings (batches, learning rate, schedule, bf16), seeded by train.run.seed:
  mle        more teacher-forced steps: the control (what the steps alone buy)
  pg         the gan family as params.yaml has it (REINFORCE on samples against the discriminator and BLEU)
  risk       sequence-level risk over the beam's K best, mixed with the token loss (Edunov et al. 2018), reward =
             sentence BLEU only (gan.bleu_reward_weight 1)
  risk-gan   the same risk with the GAN's reward: half discriminator, half sentence BLEU
  rerank     the generator frozen; the discriminator alone trained against its beam candidates for --steps,
             then used to rerank the beam's n-best: score = log p(y|x) / lp(|y|) + lambda * log D(x, y)
Each arm is scored on all 1,014 validation sentences with the evaluate stage's beam search (beam and length
penalty from params.yaml); an arm with a discriminator also reranks its n-best at each --lambdas, and once more
with lambda chosen by two-fold cross-validation: chosen on one half of the validation sentences and scored on the
other, both ways ("rerank cv", the mean of the two scored halves' BLEU; "halves" is the same mean for the beam, what
it compares with). The table gives each arm's BLEU minus the control's of the same seed, with the mean over seeds
and its 95% t-interval. Test sets are never read. Run:
    . scripts/env.sh && python bench/tune_gan.py --arms mle risk risk-gan rerank --seeds 1 2 3 --steps 100 --set tasks.translation.train.gan.trainer.lr=0.0001
Overrides (dotted params keys, YAML values) apply to every arm: --set tasks.translation.train.gan.trainer.lr=0.0001
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header  # noqa: E402
from tune_translation import profiled_params  # noqa: E402

TASK = "translation"
OUT = PROJECT_ROOT / "bench" / "out" / "tune-gan"
GAN = f"tasks.{TASK}.train.gan.gan"
ARMS = {  # arm -> params overrides on top of params.yaml (and --set)
    "mle": {},
    "pg": {},
    "risk": {f"{GAN}.generator_objective": "risk", f"{GAN}.samples_per_source": "4", f"{GAN}.bleu_reward_weight": "1.0",
             f"{GAN}.d_pretrain_steps": "0", f"{GAN}.pg_steps_per_mle_step": "1000000"},
    "risk-gan": {f"{GAN}.generator_objective": "risk", f"{GAN}.samples_per_source": "4", f"{GAN}.pg_steps_per_mle_step": "1000000"},
    "rerank": {f"{GAN}.generator_objective": "risk", f"{GAN}.samples_per_source": "4"},  # the discriminator learns from beam candidates
}
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def validation_set(tokenizer, max_len: int) -> tuple[list[list[int]], list[str]]:
    from seqgen.evaluation.evaluate import encode_sources
    from seqgen.io import read_jsonl

    examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / "valid.jsonl")
    return encode_sources(TASK, tokenizer, examples, max_len), [e["target"] for e in examples]


@torch.no_grad()
def rerank_scores(model, discriminator, sources: list[list[int]], groups: list[list[list[int]]], alpha: float) -> list[list[tuple[float, float]]]:
    """Per source and candidate: (log p(y|x) / GNMT lp(|y| + EOS), log sigmoid D(x, y))."""
    from seqgen.data.tokenization import EOS_ID, PAD_ID
    from seqgen.decoding import length_penalty
    from seqgen.families.gan import pad_outputs

    model.eval()
    discriminator.eval()
    scores: list[list[tuple[float, float]]] = []
    for start in range(0, len(sources), 64):
        rows = [(i, y or [EOS_ID]) for i in range(start, min(start + 64, len(sources))) for y in groups[i]]
        width = max(len(sources[i]) for i, _ in rows)
        src = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        for r, (i, _) in enumerate(rows):
            src[r, : len(sources[i])] = torch.tensor(sources[i])
        tgt_in, tgt_out = pad_outputs([y for _, y in rows], "cpu")
        lp = model.sequence_log_probs(src, tgt_in, tgt_out) / length_penalty((tgt_out != PAD_ID).sum(dim=1), alpha)
        d = torch.nn.functional.logsigmoid(discriminator(src, tgt_out).float())
        for r, (i, _) in enumerate(rows):
            if len(scores) <= i:
                scores.append([])
            scores[i].append((float(lp[r]), float(d[r])))
    return scores


def run_arm(arm: str, seed: int, args: argparse.Namespace, tokenizer, sources, references) -> dict:
    from seqgen.evaluation.evaluate import Decoding, decode, decode_outputs
    from seqgen.evaluation.metrics import corpus_bleu
    from seqgen.families.mle import MLEObjective
    from seqgen.models.store import LoadedModel
    from seqgen.training.job import build_job
    from seqgen.training.trainer import Trainer

    overrides = dict(args.set, **ARMS[arm], **{"train.run.seed": str(seed), f"tasks.{TASK}.train.gan.trainer.steps": str(args.steps)})
    params = profiled_params(None, overrides)
    cfg = evaluate_config(params, TASK)
    job, _, tokenizer_path, _ = build_job(TASK, "gan", params, PROJECT_ROOT)
    job.checkpoint_dir, job.metrics_path = OUT / "unused", None  # never resume, never write the workspace's plots
    gan_objective = job.objective
    if arm == "mle":
        job.objective = MLEObjective(gan_objective.model)
    trainer = Trainer(job)
    started = time.perf_counter()
    for _ in range(args.steps):
        batch = next(trainer.stream)
        if arm == "rerank":  # the discriminator's update only; the generator stays the warm start
            trainer.model.train()
            with trainer.autocast():
                gan_objective.pre_step(batch.to(trainer.device), trainer.step)
        else:
            trainer.train_step(batch)
        trainer.step += 1
    seconds = time.perf_counter() - started
    model = trainer.model.eval()
    loaded = LoadedModel(task=TASK, family="mle", model=model, config={}, tokenizer_path=tokenizer_path)
    beam = decode(loaded, sources, cfg, beam=cfg.beam)
    texts = tokenizer.decode(beam)
    result = {"arm": arm, "seed": seed, "steps": args.steps, "train_seconds": round(seconds, 1),
              "valid_bleu": corpus_bleu(texts, references)[0], "halves": statistics.fmean(halves_bleu(texts, references))}
    if arm != "mle" and args.lambdas:
        groups = decode_outputs(loaded, sources, cfg, Decoding(num_outputs=cfg.beam, beam=cfg.beam))
        scores = rerank_scores(model, gan_objective.discriminator, sources, groups, cfg.length_penalty)
        lambdas = [0.0, *args.lambdas]
        by_half = {}
        for lam in lambdas:
            picks = tokenizer.decode([g[max(range(len(g)), key=lambda k: s[k][0] + lam * s[k][1])] for g, s in zip(groups, scores)])
            result[f"rerank {lam:g}"] = corpus_bleu(picks, references)[0]
            by_half[lam] = halves_bleu(picks, references)
        chosen = [max(lambdas, key=lambda lam: by_half[lam][1 - half]) for half in (0, 1)]  # chosen on the other half
        result["rerank cv"] = statistics.fmean(by_half[chosen[half]][half] for half in (0, 1))
        result["rerank cv lambdas"] = chosen
    print(json.dumps(result), flush=True)
    return result


def halves_bleu(hypotheses: list[str], references: list[str]) -> list[float]:
    """Corpus BLEU of the first and of the second half of the validation sentences."""
    from seqgen.evaluation.metrics import corpus_bleu

    middle = len(references) // 2
    return [corpus_bleu(hypotheses[part], references[part])[0] for part in (slice(0, middle), slice(middle, None))]


def interval(deltas: list[float]) -> str:
    mean = statistics.fmean(deltas)
    if len(deltas) < 2:
        return f"{mean:+.2f}"
    half = T_975.get(len(deltas) - 1, 1.96) * statistics.stdev(deltas) / math.sqrt(len(deltas))
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=["mle", "risk", "risk-gan", "rerank"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=100, help="fine-tuning steps of every arm (default 100)")
    parser.add_argument("--lambdas", nargs="*", type=float, default=[0.5, 1.0, 2.0, 4.0, 8.0], help="reranking weights of log D (0 is always tried)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override for every arm")
    args = parser.parse_args()
    args.set = dict(item.split("=", 1) for item in args.set)
    header(shlex.join(["python", "bench/tune_gan.py", *sys.argv[1:]]))
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import decode
    from seqgen.evaluation.metrics import corpus_bleu
    from seqgen.models.store import load_model_dir

    warm = load_model_dir(PROJECT_ROOT / "models" / f"{TASK}-mle")
    tokenizer = Tokenizer(warm.tokenizer_path)
    sources, references = validation_set(tokenizer, warm.seq2seq.cfg.max_len)
    cfg = evaluate_config(profiled_params(None, args.set), TASK)
    warm_texts = tokenizer.decode(decode(warm, sources, cfg, beam=cfg.beam))
    warm_bleu, warm_halves = corpus_bleu(warm_texts, references)[0], statistics.fmean(halves_bleu(warm_texts, references))
    print(f"warm start (models/{TASK}-mle): validation BLEU {warm_bleu:.2f}, mean of the halves {warm_halves:.2f} (beam {cfg.beam}, "
          f"length penalty {cfg.length_penalty})", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    results = [run_arm(arm, seed, args, tokenizer, sources, references) for seed in args.seeds for arm in args.arms]
    (OUT / "results.json").write_text(json.dumps({"warm_bleu": warm_bleu, "warm_halves": warm_halves, "args": vars(args), "results": results}, indent=1))

    halves_keys = ("halves", "rerank cv")  # the mean of two half-set BLEUs: compared with the same for the beam
    control = {r["seed"]: r for r in results if r["arm"] == "mle"}
    print(f"\nvalidation BLEU, {len(sources)} sentences; delta = arm - the mle control of the same seed (mean [95% t-interval])")
    print("| arm | output | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean | delta vs control | delta vs warm start |")
    print("|---|---|" + "---|" * (len(args.seeds) + 3))
    for arm in args.arms:
        rows = [r for r in results if r["arm"] == arm]
        for key in [k for k in rows[0] if k in ("valid_bleu", "halves") or (k.startswith("rerank") and k != "rerank cv lambdas")]:
            base = "halves" if key in halves_keys else "valid_bleu"
            values = [r[key] for r in rows]
            vs_control = interval([r[key] - control[r["seed"]][base] for r in rows]) if control and arm != "mle" else ""
            vs_warm = interval([v - (warm_halves if key in halves_keys else warm_bleu) for v in values])
            label = {"valid_bleu": "beam", "halves": "beam, mean of the halves"}.get(key, key)
            if key == "rerank cv":
                label += " (lambdas " + ", ".join("/".join(f"{lam:g}" for lam in r["rerank cv lambdas"]) for r in rows) + ")"
            print(f"| {arm} | {label} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {statistics.fmean(values):.2f} | {vs_control} | {vs_warm} |")
    print(f"\n{len(results)} runs; {sum(r['train_seconds'] for r in results) / 60:.1f} min of fine-tuning; results in {OUT.relative_to(PROJECT_ROOT)}/results.json")


if __name__ == "__main__":
    main()
