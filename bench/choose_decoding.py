"""Which decoding should a served model use by default? Read off the frontier stage's validation sweep.

The frontier stage (plots/frontier/<task>-<family>.tsv, the validation split) scores every decoding of each family:
beam, greedy, token sampling at each temperature and, for the VAE, greedy tokens from a widened prior draw. For
dialogue the rule is the DialogWAE protocol's own trade-off: the highest BLEU-F1 (today's NLTK smoothing), the
harmonic mean of how close a response is on average (precision) and how close the best of k comes (recall), so a
decoding that repeats one safe answer and one that rambles both lose. Translation keeps beam search, the best
single output by BLEU (the evaluate stage's). The script prints each family's points, best first, and the
params.yaml `tasks.<task>.serve` lines the choice gives; nothing is written. Test sets are not read.

    . scripts/env.sh && python bench/choose_decoding.py --task dialogue
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, header  # noqa: E402


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def serve_keys(row: dict[str, str]) -> dict[str, object]:
    """The serve section's keys that give this point's decoding."""
    if row["curve"] == "beam":
        return {"strategy": "beam"}
    if row["curve"] == "greedy":
        return {"strategy": "greedy", "latent": "mean"}
    if row["curve"] == "prior":
        return {"strategy": "greedy", "latent": "sample", "prior_scale": float(row["value"])}
    return {"strategy": "sample", "temperature": float(row["value"]), "top_p": 1.0, "latent": "sample"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="dialogue")
    parser.add_argument("--families", nargs="+", default=["mle", "vae", "gan"])
    args = parser.parse_args()
    header("python bench/choose_decoding.py " + shlex.join(sys.argv[1:]))
    chosen = {}
    for family in args.families:
        path = PROJECT_ROOT / "plots" / "frontier" / f"{args.task}-{family}.tsv"
        if not path.is_file():
            sys.exit(f"{path}: missing (run `dvc repro frontier@{args.task}-{family}`)")
        rows = sorted(read(path), key=lambda r: -float(r["quality"]))
        print(f"\n{args.task}-{family} (validation, best first): curve, knob = value, quality, diversity"
              + (", bleu_f1_nltk34, intra_distinct_2" if "bleu_f1_nltk34" in rows[0] else ""))
        for row in rows:
            extra = f"  {float(row['bleu_f1_nltk34']):.4f}  {float(row['intra_distinct_2']):.4f}" if "bleu_f1_nltk34" in row else ""
            print(f"  {row['curve']:<9} {row['knob']}={float(row['value']):<5g} {float(row['quality']):8.4f} {float(row['diversity']):8.4f}{extra}")
        best = rows[0] if "bleu_f1" in rows[0] else next(r for r in rows if r["curve"] == "beam")
        chosen[family] = serve_keys(best)
    print(f"\nchosen (tasks.{args.task}.serve, per family):")
    for family, keys in chosen.items():
        print(f"  {family}: {keys}")


if __name__ == "__main__":
    main()
