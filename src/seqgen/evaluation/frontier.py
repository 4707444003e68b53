"""Quality against diversity, one curve per family and knob, on the validation split (the split that chooses
knobs: the served default decoding of params.yaml `tasks.<task>.serve` is read off these curves).

Each point decodes `samples` outputs per source with one setting and scores them as the anchors do:
- translation (Shen et al. 2019): quality = sample BLEU, the mean corpus sacreBLEU of the k output sets against
  the references; diversity = pairwise BLEU, the mean BLEU of the sets against each other (lower: more diverse);
- dialogue (DialogWAE, Gu et al. 2019): quality = BLEU-F1 of the k responses (today's NLTK smoothing; the pre-2019
  one beside it); diversity = inter-distinct-2 (higher: more diverse).
The curves: token sampling over `temperatures` (every family; the VAE drawing z from its prior at scale 1), and
for the VAE greedy tokens from z = mu + s * sigma * eps over `prior_scales`; plus the beam and greedy points.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from seqgen.evaluation.evaluate import Decoding, EvaluateConfig, decode_outputs, encode_sources
from seqgen.evaluation.metrics import corpus_bleu, dialog_distinct, distinct_n, multi_sample_bleu, pairwise_bleu
from seqgen.io import read_jsonl
from seqgen.models.store import LoadedModel

COLUMNS = ("curve", "knob", "value", "quality", "diversity")  # first columns of plots/frontier/<task>-<family>.tsv


@dataclasses.dataclass(frozen=True)
class FrontierConfig:
    split: str  # the split swept (valid: tune on validation, never on a test set)
    examples: int  # sources (translation) or contexts (dialogue) per point
    samples: int  # outputs per source at each point
    temperatures: list[float]  # the token-sampling curve
    top_p: float  # nucleus mass of those samples
    prior_scales: list[float]  # the VAE's latent curve: greedy tokens from z = mu + s * sigma * eps


def settings(cfg: FrontierConfig, has_latent: bool, beam: int) -> list[tuple[str, str, float, Decoding]]:
    """(curve, knob, value, decoding) of every point of a family's sweep."""
    n = cfg.samples
    points = [("beam", "beam", float(beam), Decoding(num_outputs=1, strategy="beam", beam=beam)),
              ("greedy", "temperature", 0.0, Decoding(num_outputs=1, strategy="greedy"))]
    points += [("sampling", "temperature", t, Decoding(num_outputs=n, strategy="sample", temperature=t, top_p=cfg.top_p, latent="sample"))
               for t in cfg.temperatures]
    if has_latent:
        points += [("prior", "prior_scale", s, Decoding(num_outputs=n, strategy="greedy", latent="sample", prior_scale=s)) for s in cfg.prior_scales]
    return points


def score(kind: str, outputs: list[list[str]], references: list[str], samples: int) -> dict[str, float]:
    """quality, diversity and the rest of the point's measures; a single output per source counts as `samples` copies."""
    outputs = [group * (samples // len(group)) for group in outputs]
    if kind == "translation":
        sets = [list(column) for column in zip(*outputs)]
        quality = sum(corpus_bleu(s, references)[0] for s in sets) / len(sets)
        return {"quality": quality, "diversity": pairwise_bleu(sets), "sample_bleu": quality, "pairwise_bleu": pairwise_bleu(sets)}
    found = {**multi_sample_bleu(outputs, references), **dialog_distinct(outputs)}
    # How varied one response a context is across contexts, against the people's responses (Li et al.'s distinct-2
    # over the set): a decoding more varied than people is adding noise, not content.
    found.update(distinct_2_first=distinct_n([group[0] for group in outputs], 2), human_distinct_2=distinct_n(references, 2))
    return {"quality": found["bleu_f1"], "diversity": found["inter_distinct_2"], **found}


def sweep(loaded: LoadedModel, interim: Path, decode_cfg: EvaluateConfig, cfg: FrontierConfig, seed: int) -> list[dict[str, Any]]:
    """One row per point: curve, knob, value, quality, diversity, then the point's other measures."""
    from seqgen.data.tokenization import Tokenizer

    tokenizer = Tokenizer(loaded.tokenizer_path)
    examples = read_jsonl(interim / f"{cfg.split}.jsonl")[: cfg.examples]
    references = [e["target"] for e in examples]
    sources = encode_sources(loaded.kind, tokenizer, examples, loaded.seq2seq.cfg.max_len)
    from tqdm import tqdm

    rows = []
    points = settings(cfg, loaded.config.get("latent") is not None, decode_cfg.beam)
    for curve, knob, value, decoding in tqdm(points, desc=f"frontier {loaded.task}-{loaded.family}", unit="point"):
        torch.manual_seed(seed)  # every point draws from the same seed: the curves differ by the knob alone
        outputs = [tokenizer.decode(group) for group in decode_outputs(loaded, sources, decode_cfg, decoding)]
        rows.append({"curve": curve, "knob": knob, "value": value, **score(loaded.kind, outputs, references, cfg.samples)})
    return rows


def frontier_model(task: str, family: str, params: dict, root: Path = Path(".")) -> Path:
    """The frontier stage's work: sweep models/<task>-<family> and write plots/frontier/<task>-<family>.tsv."""
    import csv

    from seqgen.config import from_mapping, section, task_section
    from seqgen.io import atomic_path
    from seqgen.models.store import load_model_dir

    cfg = from_mapping(FrontierConfig, task_section(params, task, "frontier"), f"tasks.{task}.frontier")
    decode_cfg = from_mapping(EvaluateConfig, task_section(params, task, "evaluate"), f"tasks.{task}.evaluate")
    torch.set_num_threads(section(params, "train.run.threads"))
    name = f"{task}-{family}"
    rows = sweep(load_model_dir(root / "models" / name), root / "data/interim" / task, decode_cfg, cfg, decode_cfg.seed)
    out = root / "plots" / "frontier" / f"{name}.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(COLUMNS) + sorted({k for row in rows for k in row} - set(COLUMNS))
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return out
