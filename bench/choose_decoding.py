"""Which decoding should a served model use by default? Read off the frontier stage's validation sweep.

The frontier stage (plots/frontier/<task>-<family>.tsv, the validation split) scores every decoding of each family:
beam, greedy, token sampling at each temperature and, for the VAE, greedy tokens from a widened prior draw. For
dialogue the rule is human-like first, then the DialogWAE protocol's own trade-off: among the decodings whose
responses (one a context) are no more varied across contexts than the people's in the data (distinct-2 of the set,
Li et al. 2016: beyond that a decoding adds noise, not content), the highest BLEU-F1 (today's NLTK smoothing), the
harmonic mean of how close a response is on average (precision) and how close the best of k comes (recall), so a
decoding that repeats one safe answer loses too. Translation keeps beam search, the best single output by BLEU
(the evaluate stage's). The script prints each family's points, best first, and the
params.yaml `tasks.<task>.serve` lines the choice gives; nothing is written. Test sets are not read.

It also reads every vae and gan point against the MLE's temperature curve (its greedy and sampling points, linear
between the two nearest in diversity): above it there, the family gives better outputs at that diversity.

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


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """y at x on the (x, y) points sorted by x, linear between the two nearest; None outside their range."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


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
        dialogue = "bleu_f1" in rows[0]
        print(f"\n{args.task}-{family} (validation, best first): curve, knob = value, quality, diversity"
              + (f", bleu_f1_nltk34, intra_distinct_2, distinct_2 of one response a context (people: {float(rows[0]['human_distinct_2']):.4f})"
                 if dialogue else ""))
        for row in rows:
            extra = f"  {float(row['bleu_f1_nltk34']):.4f}  {float(row['intra_distinct_2']):.4f}  {float(row['distinct_2_first']):.4f}" if dialogue else ""
            print(f"  {row['curve']:<9} {row['knob']}={float(row['value']):<5g} {float(row['quality']):8.4f} {float(row['diversity']):8.4f}{extra}")
        if dialogue:
            best = next(r for r in rows if float(r["distinct_2_first"]) <= float(r["human_distinct_2"]))
        else:
            best = next(r for r in rows if r["curve"] == "beam")
        chosen[family] = serve_keys(best)
    mle = [r for r in read(PROJECT_ROOT / "plots" / "frontier" / f"{args.task}-mle.tsv") if r["curve"] in ("greedy", "sampling")]
    curve = sorted((float(r["diversity"]), float(r["quality"])) for r in mle)
    print(f"\nagainst the mle's temperature curve at the same diversity ({'pairwise BLEU' if args.task == 'translation' else 'inter-distinct-2'}):")
    for family in [f for f in args.families if f != "mle"]:
        for row in read(PROJECT_ROOT / "plots" / "frontier" / f"{args.task}-{family}.tsv"):
            if row["curve"] not in ("sampling", "prior"):
                continue
            x, y = float(row["diversity"]), float(row["quality"])
            mle_y = interpolate(curve, x)
            verdict = "outside the mle curve's range" if mle_y is None else (f"mle {mle_y:.4g}: the same" if abs(y - mle_y) < 1e-9 else f"mle {mle_y:.4g}: {'ABOVE' if y > mle_y else 'below'} by {abs(y - mle_y):.3g}")
            print(f"  {family} {row['curve']:<8} {row['knob']}={float(row['value']):<4g} quality {y:.4g} at diversity {x:.4g}; {verdict}")
    print(f"\nchosen (tasks.{args.task}.serve, per family):")
    for family, keys in chosen.items():
        print(f"  {family}: {keys}")


if __name__ == "__main__":
    main()
