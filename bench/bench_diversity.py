"""Are the VAE's translations more diverse than the MLE's sampling at equal BLEU? (issue 7)

Sampling at a higher temperature makes outputs more diverse and worse. The evaluate stage samples both
families the same way (token sampling; the VAE also draws z from its prior), so both trace a curve over the
temperature. This script traces the two curves on test_2016_flickr (--split valid: the validation split), k outputs
per source at each temperature:
  sample_bleu    mean sacreBLEU of the k outputs against the references (higher: better),
  pairwise_bleu  mean BLEU of the outputs against each other (Shen et al. 2019; lower: more diverse),
and for each VAE point reads the MLE's pairwise BLEU at the same sample BLEU off the MLE's curve (linear
between the two nearest points; greedy decoding is the T -> 0 end: every output the same, pairwise 100).
The VAE wins where its pairwise BLEU is lower than the MLE's at the same sample BLEU.

--z-scales widens the VAE's prior draw at decoding, z = mu + s * sigma * eps, and traces the VAE's curve once per
scale s (1: the evaluate stage's draw). Each scale also adds a point with greedy tokens (and, with --vae-beam, one
with the evaluate stage's beam search), where only the latent varies the output. Choose such a knob with
--split valid (1,014 sentences); the test set is for reporting it. A VAE point above the MLE's best sample BLEU
cannot be compared at equal BLEU; for it the script prints the MLE's best sample BLEU at the same pairwise BLEU
instead, which does not count towards the verdict.

Uses the workspace's trained models (models/<task>-mle and -vae, e.g. from `dvc exp run -S profile=full`) and
the evaluate stage's own decoding and metrics. Run:
    . scripts/env.sh && python bench/bench_diversity.py --temperatures 0.2 0.4 0.6 0.8 1.0 --samples 5
    . scripts/env.sh && python bench/bench_diversity.py --split valid --z-scales 1 2 4 --temperatures 0.2 0.4
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, evaluate_config, header  # noqa: E402

TASK = "translation"
SPLITS = {"test": "test_2016_flickr", "valid": "the validation split"}  # data/interim/translation/<split>.jsonl


def widened_prior(vae, scale: float):
    """A decoder_extra for the VAE that always draws z = mu + scale * sigma * eps from its prior, whatever
    `sample` says: the evaluate stage's decoding stays as it is, and greedy tokens then vary only through z."""

    def decoder_extra(src, sample: bool, generator=None):
        import torch

        memory, mask = vae.seq2seq.encode(src)
        mu, logvar = vae.prior_params(memory, mask)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device)
        return vae.z_to_decoder((mu + scale * noise * (0.5 * logvar).exp()).to(memory.dtype))

    return decoder_extra


def frontier(curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (sample_bleu, pairwise_bleu) points no other point beats on both (higher BLEU and lower pairwise),
    sorted by BLEU. Near T -> 0 the BLEU hardly moves with the temperature, so a curve in temperature order can
    double back; the frontier is the MLE's best diversity at each BLEU, the fair comparison."""
    kept = [p for p in curve if not any(q != p and q[0] >= p[0] and q[1] <= p[1] for q in curve)]
    return sorted(kept)


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """y at x, linear between the two nearest of the (x, y) points sorted by x; None outside their range."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def at_equal_bleu(curve: list[tuple[float, float]], bleu: float) -> float | None:
    """Pairwise BLEU on the curve's frontier at the given sample BLEU; None outside the curve (no comparison at
    equal BLEU is possible there)."""
    return interpolate(frontier(curve), bleu)


def bleu_at_equal_pairwise(curve: list[tuple[float, float]], pairwise: float) -> float | None:
    """Sample BLEU on the curve's frontier at the given pairwise BLEU; None outside the frontier's pairwise range."""
    return interpolate(sorted((p, b) for b, p in frontier(curve)), pairwise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8, 1.0], help="sampling temperatures, the same for both models")
    parser.add_argument("--samples", type=int, default=5, help="outputs per source (default 5, as the issue asks)")
    parser.add_argument("--z-scales", type=float, nargs="+", default=[1.0], help="VAE prior widths s: z = mu + s * sigma * eps (default 1, the evaluate stage's)")
    parser.add_argument("--vae-temperatures", type=float, nargs="*", help="the VAE's sampling temperatures (default: --temperatures; none: only the greedy and beam points)")
    parser.add_argument("--vae-beam", action="store_true", help="also decode each prior draw with the evaluate stage's beam search (only z varies the output)")
    parser.add_argument("--split", choices=sorted(SPLITS), default="test", help="test (default; for reporting) or valid (for choosing a knob)")
    parser.add_argument("--models", type=Path, default=PROJECT_ROOT / "models", help="folder with <task>-mle and <task>-vae")
    args = parser.parse_args()
    if args.vae_temperatures is None:
        args.vae_temperatures = args.temperatures
    if args.samples < 2 or any(t <= 0 for t in args.temperatures + args.vae_temperatures) or any(z <= 0 for z in args.z_scales):
        parser.error("--samples must be >= 2 and every temperature and z scale > 0")
    header(shlex.join(["python", "bench/bench_diversity.py", *sys.argv[1:]]))

    import torch

    from seqgen.config import load_params
    from seqgen.data.tokenization import Tokenizer
    from seqgen.evaluation.evaluate import decode, encode_sources
    from seqgen.evaluation.metrics import corpus_bleu, pairwise_bleu
    from seqgen.io import read_jsonl
    from seqgen.models.store import load_model_dir

    params = load_params(PROJECT_ROOT / "params.yaml")
    cfg = evaluate_config(params, TASK)
    cfg = dataclasses.replace(cfg, top_k=0, top_p=1.0)  # plain temperature sampling: one knob along the curve
    examples = read_jsonl(PROJECT_ROOT / "data" / "interim" / TASK / f"{args.split}.jsonl")
    references = [e["target"] for e in examples]

    def point(loaded, run_cfg, sample: bool, varies: bool, beam: int | None = None) -> tuple[float, float]:
        """(mean sample BLEU, pairwise BLEU) of args.samples outputs; one output when nothing varies (greedy)."""
        tokenizer = Tokenizer(loaded.tokenizer_path)
        sources = encode_sources(TASK, tokenizer, examples, loaded.seq2seq.cfg.max_len)
        outputs = [tokenizer.decode(decode(loaded, sources, run_cfg, sample=sample, beam=beam)) for _ in range(args.samples if varies else 1)]
        bleu = sum(corpus_bleu(o, references)[0] for o in outputs) / len(outputs)
        return bleu, (pairwise_bleu(outputs) if varies else 100.0)

    def show(name: str, bleu_pairwise: tuple[float, float]) -> None:
        print(f"{name:<26}{bleu_pairwise[0]:>12.2f}{bleu_pairwise[1]:>15.2f}", flush=True)

    print(f"\n{SPLITS[args.split]}, {args.samples} outputs per source\n{'model':<26}{'sample BLEU':>12}{'pairwise BLEU':>15}")
    torch.manual_seed(cfg.seed)
    mle = load_model_dir(args.models / f"{TASK}-mle")
    mle_curve = [point(mle, cfg, sample=False, varies=False)]  # greedy: the T -> 0 end
    show("mle greedy (T->0)", mle_curve[0])
    for temperature in args.temperatures:
        mle_curve.append(point(mle, dataclasses.replace(cfg, temperature=temperature), sample=True, varies=True))
        show(f"mle T={temperature:g}", mle_curve[-1])

    torch.manual_seed(cfg.seed)
    vae = load_model_dir(args.models / f"{TASK}-vae")
    show("vae greedy (z=prior mean)", point(vae, cfg, sample=False, varies=False))
    vae_points: list[tuple[str, tuple[float, float]]] = []
    for scale in args.z_scales:
        vae.model.decoder_extra = widened_prior(vae.model, scale)
        # The greedy and beam points last, so that at s = 1 the sampled points draw what they drew before --z-scales.
        runs = [(f"vae s={scale:g} T={t:g}", dataclasses.replace(cfg, temperature=t), True, None) for t in args.vae_temperatures]
        runs.append((f"vae s={scale:g} greedy", cfg, False, None))
        if args.vae_beam:
            runs.append((f"vae s={scale:g} beam {cfg.beam}", cfg, False, cfg.beam))
        for name, run_cfg, sample, beam in runs:
            vae_points.append((name, point(vae, run_cfg, sample=sample, varies=True, beam=beam)))
            show(name, vae_points[-1][1])

    wins = compared = 0
    for name, (vae_bleu, vae_pairwise) in vae_points:
        reference = at_equal_bleu(mle_curve, vae_bleu)
        if reference is None:
            print(f"{name}: sample BLEU {vae_bleu:.2f} is outside the MLE curve, not compared", end="")
            mle_bleu = bleu_at_equal_pairwise(mle_curve, vae_pairwise) if vae_bleu > max(b for b, _ in mle_curve) else None
            print("" if mle_bleu is None else f" (above it; at pairwise BLEU {vae_pairwise:.2f} the MLE's sample BLEU is {mle_bleu:.2f})")
            continue
        compared += 1
        wins += vae_pairwise < reference
        print(f"{name}: at sample BLEU {vae_bleu:.2f} the MLE's pairwise BLEU is {reference:.2f}, the VAE's {vae_pairwise:.2f}")
    scope = "at none of the" if not wins else "at all" if wins == compared else f"at only {wins} of"
    print(f"RESULT: the VAE is more diverse than MLE sampling at equal BLEU {scope} {compared} comparable points")


if __name__ == "__main__":
    main()
