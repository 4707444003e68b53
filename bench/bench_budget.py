"""Our translation model trained on a wall-clock budget, for the side-by-side with the peer (bench/peer_joeynmt.py).

Trains the mle family of the default profile (same model and batches as `dvc repro`) with the learning-rate
schedule sized to --steps, in a scratch root under bench/out/budget/ (the workspace's models/ and dvc.lock are
left alone), then evaluates it with the evaluate stage's own function: test_2016_flickr and test_2017_flickr,
beam 5, sacreBLEU 13a cased, chrF, teacher-forced perplexity.

Our trainer stops at a step count, not a clock: pick --steps so that training ends inside --minutes at this
machine's rate (bench/bench_train.py: about 4,700-5,000 target tokens/s = 1.0-1.1 s a step). The run is reported as over
budget, in so many words, when it is not inside it. Validation during training (--eval-every) counts in the wall
time, as the peer's does.

Needs the project's data (`dvc repro tokenize@translation`). Run:
    . scripts/env.sh && python bench/bench_budget.py --minutes 30 --steps 1500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, data_root, evaluate_config, header  # noqa: E402

OUT = PROJECT_ROOT / "bench" / "out" / "budget"
TASK, FAMILY = "translation", "mle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30, help="the wall-clock budget the run must fit (default 30)")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps; the cosine schedule ends there (default 1500)")
    parser.add_argument("--warmup", type=int, default=300, help="linear warm-up steps (default 300)")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between validation passes (default 500)")
    args = parser.parse_args()
    header(" ".join(["python bench/bench_budget.py", *sys.argv[1:]]))

    from seqgen.config import load_params, section, task_section, task_spec
    from seqgen.evaluation.evaluate import evaluate
    from seqgen.models.store import load_model_dir
    from seqgen.training.job import train

    params = load_params(PROJECT_ROOT / "params.yaml")
    trainer = task_section(params, TASK, f"train.{FAMILY}.trainer")
    trainer.update(steps=args.steps, warmup=args.warmup, eval_every=args.eval_every, select_best_by="last")
    root = data_root(OUT, TASK)
    print(f"model: {section(params, f'model.{TASK}')}")
    print(f"trainer: {trainer}")

    started = time.monotonic()
    summary = train(TASK, FAMILY, params, root=root)
    wall = time.monotonic() - started
    verdict = "inside" if wall <= args.minutes * 60 else "OVER"
    print(f"training: {wall / 60:.1f} min wall incl. start-up and validation ({verdict} the {args.minutes:g}-minute budget); "
          f"{summary['steps']} steps, final {summary['final']}")
    print(f"THROUGHPUT: {summary['tokens_per_s']} target tokens/s (the trainer's own count over its steps)")

    cfg = evaluate_config(params, TASK)
    started = time.monotonic()
    metrics, _ = evaluate(load_model_dir(root / "models" / f"{TASK}-{FAMILY}"), root / "data" / "interim" / TASK,
                          root / "data" / "processed" / TASK, cfg, test_sets=task_spec(params, TASK).test_sets)
    print(f"evaluation ({time.monotonic() - started:.0f} s, beam {cfg.beam}, length penalty {cfg.length_penalty}):")
    for name in ("test_2016_flickr", "test_2017_flickr"):
        entry = metrics[name]
        print(f"{name}: BLEU {entry['bleu']:.2f}  chrF {entry['chrf']:.2f}  ({entry['bleu_signature']})")
    print(f"perplexity (test_2016_flickr, teacher-forced): {metrics['ppl']:.2f}")


if __name__ == "__main__":
    main()
