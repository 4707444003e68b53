"""The model card of a registered version: what it was trained on, how it decodes, its metrics under each
convention, a few sample outputs and its limitations. Written as markdown: the version's MLflow description,
an artifact of its run (model_card.md) and reports/cards/<task>-<family>.md."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

DOMAINS = {  # task kind -> what its corpus is, for the limitations section
    "translation": "English image captions (Multi30k: one-sentence descriptions of Flickr photos) into German",
    "dialogue": "everyday English chit-chat (DailyDialog: short written dialogues for English learners)",
}
METRICS = {  # task kind -> (key, what it is) of the headline test set, in the card's order
    "translation": [("bleu", "sacreBLEU, cased, detokenised (13a)"), ("chrf", "chrF"), ("sample_bleu", "BLEU of sampled outputs (mean of the samples)"),
                    ("pairwise_bleu", "pairwise BLEU of the samples (lower: more diverse)"), ("ppl", "perplexity")],
    "dialogue": [("bleu", "sacreBLEU of the beam response"), ("bleu_f1", "BLEU-F1, DialogWAE protocol, NLTK smoothing of today (sampled responses)"),
                 ("bleu_f1_nltk34", "BLEU-F1, the pre-2019 NLTK smoothing DialogWAE's table used (sampled responses)"),
                 ("inter_distinct_2", "inter-distinct-2 of the sampled responses"), ("intra_distinct_2", "intra-distinct-2"),
                 ("distinct_2", "distinct-2 over all sampled responses"), ("ppl", "perplexity")],
}


def dull_share(outputs: list[str], top: int = 5) -> tuple[float, list[tuple[str, int]]]:
    """Share of outputs that are one of the `top` most frequent ones, and those outputs: how generic the model is."""
    counts = Counter(outputs)
    common = counts.most_common(top)
    return sum(n for _, n in common) / max(1, len(outputs)), common


def model_card(name: str, kind: str, tags: dict[str, str], metrics: dict[str, Any], decoding: dict[str, Any], serving: Any,
               samples: list[tuple[str, list[str], list[str]]], generic: tuple[float, list[tuple[str, int]]], family_note: str | None) -> str:
    """samples: (input, default outputs, sampled alternatives); generic: dull_share of the default outputs on validation."""
    task, family = name.rsplit("-", 1)
    data = [f"- `{path}`: DVC md5 `{md5}`" for path, md5 in sorted((k.split(":", 1)[1], v) for k, v in tags.items() if k.startswith("dvc_md5:"))]
    lines = [f"# {name}", "", f"A {family.upper()} {kind} model of seqgen, task `{task}`: {DOMAINS.get(kind, kind)}.", "",
             "## Trained on", *data, f"- git commit `{tags.get('git_commit', 'unknown')}`" + (" (uncommitted changes)" if tags.get("git_dirty") == "true" else ""),
             f"- profile `{tags.get('profile', 'unknown')}` (params.yaml); `seqgen reproduce {name}/<version>` rebuilds it from this lineage", "",
             "## How it decodes",
             f"- default request: {json.dumps(dataclasses.asdict(serving))} (params.yaml `tasks.{task}.serve`; every key is a request param)",
             f"- the metrics below: beam {decoding.get('beam')}, length penalty {decoding.get('length_penalty')}"
             + (f", z = {family_note}" if family_note else "") + f"; samples: temperature {decoding.get('temperature')}, top-p {decoding.get('top_p')}", "",
             "## Metrics (test sets; validation chose every knob)", "| metric | value | what |", "|---|---|---|"]
    for key, what in METRICS.get(kind, []):
        if isinstance(metrics.get(key), (int, float)):
            lines.append(f"| {key} | {metrics[key]:.4g} | {what} |")
    greedy = next((v.get("greedy") for v in metrics.values() if isinstance(v, dict) and "greedy" in v), None)
    if greedy:
        lines.append(f"| greedy bleu_f1 / bleu_f1_nltk34 / inter_distinct_2 | {greedy['bleu_f1']:.4g} / {greedy['bleu_f1_nltk34']:.4g} / "
                     f"{greedy['inter_distinct_2']:.4g} | DialogWAE protocol: {greedy['decoding']} |")
    signature = metrics.get("bleu_signature")
    if signature:
        lines += ["", f"BLEU signature: `{signature}`"]
    lines += ["", "## Sample outputs (validation inputs)", "| input | default | sampled alternatives |", "|---|---|---|"]
    for source, default, alternatives in samples:
        cell = lambda texts: "<br>".join(t.replace("|", "\\|") for t in texts)  # noqa: E731
        lines.append(f"| {cell([source])} | {cell(default)} | {cell(alternatives)} |")
    share, common = generic
    lines += ["", "## Limitations",
              f"- Domain: {DOMAINS.get(kind, kind)}; outside it (news, technical text, long documents) expect much worse output.",
              "- Language: " + ("English in, German out; nothing else." if kind == "translation" else "English only; a few turns of context."),
              f"- Measured: {share:.0%} of its default outputs on 100 validation inputs are one of its {len(common)} most frequent ones "
              f"({'; '.join(f'{text!r} x{n}' for text, n in common[:3])}).",
              "- A small model trained on one corpus: it states wrong facts fluently and cannot know anything outside its data."]
    return "\n".join(lines) + "\n"
