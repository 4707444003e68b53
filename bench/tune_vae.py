"""Tune the VAE against posterior collapse, or the GAN's reward, on the validation split only (issue 7).

Each --variant overrides keys of `train.<task>.<family>.<family>` (e.g. "word_dropout=0.4,free_bits=0.2"; a
"trainer." prefix overrides `train.<task>.<family>.trainer`, e.g. "trainer.lr=1e-4"), trains that family
warm-started from the workspace's models/<task>-mle in its own scratch root under bench/out/tune-vae/ (the
workspace's models/ and dvc.lock are left alone), and measures on the VALIDATION split:
  kl / active   KL per sentence and active latent units (posterior means varying across inputs; Burda 2016),
  ppl_elbo      exp(-ELBO / tokens), an upper bound on perplexity,
  bleu          greedy BLEU with z = prior mean (translation) or BLEU-F1 of the samples (dialogue, DialogWAE),
  diversity     translation: pairwise BLEU of the samples (lower: more diverse); dialogue: distinct-2,
with --samples outputs per source drawn as the evaluate stage draws them (token sampling; the VAE also draws z
from its prior). A GAN variant keeps its last weights (select_best_by: last), so the table shows what the
policy gradient did rather than a fallback to the warm start.
The MLE warm start is measured the same way (token sampling) on the first row, for the ratios. Run:
    . scripts/env.sh && python bench/tune_vae.py dialogue --steps 300 --variant "" --variant "word_dropout=0.4"
    . scripts/env.sh && python bench/tune_vae.py dialogue --family gan --variant "samples_per_source=4"
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, data_root, evaluate_config, header, params_with_profile, parse_variant  # noqa: E402

OUT = PROJECT_ROOT / "bench" / "out" / "tune-vae"


def scratch_root(task: str, name: str, mle: Path) -> Path:
    """bench/out/tune-vae/<name> with links to the project's data and the MLE warm start (read only)."""
    root = data_root(OUT / name, task)
    (root / "models").mkdir()
    (root / "models" / f"{task}-mle").symlink_to(mle.resolve())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["translation", "dialogue"])
    parser.add_argument("--family", choices=["vae", "gan"], default="vae", help="the family tuned (default vae)")
    parser.add_argument("--variant", type=parse_variant, action="append", required=True,
                        help='overrides of train.<task>.<family>.<family> ("trainer.KEY": of its trainer), "key=value,..."; '
                             '"" = as in params.yaml (repeatable)')
    parser.add_argument("--steps", type=int, default=300, help="training steps per variant (default 300)")
    parser.add_argument("--examples", type=int, default=300, help="validation sources decoded (default 300)")
    parser.add_argument("--samples", type=int, default=5, help="outputs per source (default 5)")
    parser.add_argument("--profile", help="params profile (default: params.yaml's `profile`); must be the MLE's")
    parser.add_argument("--mle", type=Path, help="the MLE warm start (default: models/<task>-mle)")
    args = parser.parse_args()
    header(shlex.join(["python", "bench/tune_vae.py", *sys.argv[1:]]))

    import torch

    from seqgen.config import task_section
    from seqgen.data.tokenization import Tokenizer, load_encoded
    from seqgen.evaluation.evaluate import decode, encode_sources
    from seqgen.evaluation.metrics import corpus_bleu, distinct_n, multi_sample_bleu, pairwise_bleu
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir
    from seqgen.training.job import train
    from seqgen.training.batching import evaluation_batches
    from seqgen.families.vae import held_out_elbo

    task, family = args.task, args.family
    mle = args.mle or PROJECT_ROOT / "models" / f"{task}-mle"
    if not (mle / "model.pt").is_file():
        sys.exit(f"{mle}: no model.pt; train the MLE first (`dvc repro train-mle@{task}`) or pass --mle")

    params = params_with_profile(args.profile)
    cfg = evaluate_config(params, task)
    examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / task / "valid.jsonl")[: args.examples]
    references = [e["target"] for e in examples]
    valid = load_encoded(PROJECT_ROOT / "data" / "processed" / task / "valid.npz")

    def measure(loaded) -> dict[str, float]:
        torch.manual_seed(cfg.seed)
        tokenizer = Tokenizer(loaded.tokenizer_path)
        sources = encode_sources(task, tokenizer, examples, loaded.seq2seq.cfg.max_len)
        sampled = [tokenizer.decode(decode(loaded, sources, cfg, sample=True)) for _ in range(args.samples)]
        if task == "translation":
            found = {"bleu": corpus_bleu(tokenizer.decode(decode(loaded, sources, cfg)), references)[0], "pairwise": pairwise_bleu(sampled)}
        else:
            per_source = [list(group) for group in zip(*sampled)]
            found = {"bleu": multi_sample_bleu(per_source, references)["bleu_f1"], "distinct_2": distinct_n([s for g in per_source for s in g], 2)}
        if loaded.family == "vae":
            loaded.model.eval()
            v = held_out_elbo(loaded.model, evaluation_batches(valid, cfg.batch_tokens, loaded.seq2seq.cfg.max_len))
            found.update(kl=v["kl_per_sentence"], active=f"{v['active_units']}/{v['latent']}", ppl_elbo=v["ppl"])
        return found

    diversity = "pairwise" if task == "translation" else "distinct_2"
    columns = ["bleu", diversity, "kl", "active", "ppl_elbo", "minutes"]
    print(f"\n{task}, validation: {len(examples)} sources x {args.samples} samples; {family} {args.steps} steps per variant")
    print(f"{'variant':<40}" + "".join(f"{c:>12}" for c in columns))

    def row(name: str, found: dict) -> None:
        cells = [found.get(c, "") for c in columns]
        print(f"{name:<40}" + "".join(f"{c:>12.4g}" if isinstance(c, float) else f"{c!s:>12}" for c in cells), flush=True)

    row("mle warm start (token sampling)", measure(load_model_dir(mle)))
    for i, overrides in enumerate(args.variant):
        run_params = params_with_profile(args.profile)  # a fresh copy per variant
        trainer = task_section(run_params, task, f"train.{family}.trainer")
        for key, value in overrides.items():
            target = trainer if key.startswith("trainer.") else task_section(run_params, task, f"train.{family}.{family}")
            name = key.removeprefix("trainer.")
            if name not in target:
                sys.exit(f"--variant: unknown key {key!r}; tasks.{task}.train.{family}.{family} has {sorted(task_section(run_params, task, f'train.{family}.{family}'))}, "
                         f"its trainer {sorted(trainer)}")
            target[name] = type(target[name])(value)
        trainer.update(steps=args.steps)
        if family == "gan":
            trainer.update(select_best_by="last", eval_every=args.steps)
        root = scratch_root(task, f"variant-{i}", mle)
        started = time.monotonic()
        train(task, family, run_params, root=root)
        found = measure(load_model_dir(root / "models" / f"{task}-{family}"))
        found["minutes"] = (time.monotonic() - started) / 60
        row(",".join(f"{k}={v}" for k, v in overrides.items()) or "(params.yaml)", found)


if __name__ == "__main__":
    main()
