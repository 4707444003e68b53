"""Scores: corpus sacreBLEU and chrF (with their signatures), multi-sample BLEU (DialogWAE protocol),
distinct-n. Hypotheses and references are detokenised text."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

_WORD_PUNCT = re.compile(r"\w+|[^\w\s]+")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacreBLEU with its defaults (13a tokenisation, cased) and the signature that makes it comparable."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(force=True)  # DailyDialog is distributed pre-tokenised; we score it as it is, knowingly
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())  # the signature is complete only after scoring


def tokenised_lowercased_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str) -> tuple[float, str]:
    """BLEU as published Multi30k figures report it (issue 30's anchors): hypotheses and references Moses-tokenised
    (sacremoses, tokenizer.perl's rules for `lang`), then scored on those tokens, lower-cased: multi-bleu.perl -lc.
    The models stay cased; only this score folds case. Its signature names the pre-tokenisation sacreBLEU's omits."""
    from importlib.metadata import version

    from sacrebleu.metrics import BLEU
    from sacremoses import MosesTokenizer

    moses = MosesTokenizer(lang=lang)

    def tokenised(texts: Sequence[str]) -> list[str]:
        return [moses.tokenize(text, escape=False, return_str=True) for text in texts]

    metric = BLEU(tokenize="none", lowercase=True, force=True)
    score = metric.corpus_score(tokenised(hypotheses), [tokenised(references)])
    return float(score.score), f"pretok:moses-{lang}(sacremoses {version('sacremoses')})|{metric.get_signature()}"


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def word_punct_tokens(text: str) -> list[str]:
    """DialogWAE's tokens: lower-cased, split into runs of word characters and runs of punctuation (the
    pattern of NLTK's WordPunctTokenizer)."""
    return _WORD_PUNCT.findall(text.lower())


def _matches(hypothesis: Sequence[str], reference: Sequence[str], n: int) -> tuple[int, int]:
    """NLTK's modified_precision with one reference: (clipped n-gram matches, max(1, hypothesis n-grams))."""
    hyp = Counter(zip(*(hypothesis[i:] for i in range(n))))
    ref = Counter(zip(*(reference[i:] for i in range(n))))
    return sum(min(count, ref[gram]) for gram, count in hyp.items()), max(1, sum(hyp.values()))


def dialogwae_sentence_bleu(hypothesis: Sequence[str], reference: Sequence[str], *, nltk34: bool = False) -> float:
    """NLTK's sentence_bleu([reference], hypothesis, weights=(1/3, 1/3, 1/3),
    smoothing_function=SmoothingFunction().method7), the call in DialogWAE's metrics.py, restated here so
    the project does not depend on NLTK (checked against NLTK 3.10.4 in tests/code/test_metrics.py).
    Method 7 is method 4 (a zero match count becomes a small count that shrinks for short hypotheses and
    halves with each further zero order) followed by method 5 (each order's precision averaged with its
    neighbours; NLTK takes the 5-gram precision as the neighbour of the last order).

    nltk34: method 4 as NLTK had it before 3.5 (April 2020), the NLTK of DialogWAE's published scores (2019;
    checked against NLTK 3.4.5): a zero match count at order n becomes the precision 1 / (n - 1 + 5 / ln(len)),
    not divided by the n-gram count, so partial matches score much higher; a one-token hypothesis divides by
    ln(1) = 0, which DialogWAE's try/except scores as 0."""
    if not hypothesis:
        return 0.0
    counts = [_matches(hypothesis, reference, n) for n in (1, 2, 3)]
    if counts[0][0] == 0:
        return 0.0
    precisions, zeros = [], 0
    for order, (matches, total) in enumerate(counts):  # method 4 (k = 5)
        if matches == 0 and nltk34:
            if len(hypothesis) == 1:
                return 0.0
            precisions.append(1 / (order + 5 / math.log(len(hypothesis))))
        elif matches == 0 and len(hypothesis) > 1:
            zeros += 1
            precisions.append(1 / (2**zeros * 5 / math.log(len(hypothesis))) / total)
        else:
            precisions.append(matches / total)
    five_matches, five_total = _matches(hypothesis, reference, 5)
    following = precisions[1:] + [five_matches / five_total]
    previous = precisions[0] + 1
    for i, p in enumerate(precisions):  # method 5
        previous = precisions[i] = (previous + p + following[i]) / 3
    if len(hypothesis) > len(reference):
        brevity = 1.0
    else:
        brevity = math.exp(1 - len(reference) / len(hypothesis))
    return brevity * math.exp(math.fsum(math.log(p) / 3 for p in precisions if p > 0))


def multi_sample_bleu(samples: Sequence[Sequence[str]], references: Sequence[str]) -> dict[str, float]:
    """DialogWAE protocol (Gu et al. 2019, their sample.py): for each context, the sentence BLEU
    (dialogwae_sentence_bleu on word_punct_tokens) of every sampled response against the reference;
    recall = mean over contexts of the best sample, precision = mean over contexts of the samples' mean,
    F1 their harmonic mean. As published: 0-1, except that method 5 smoothing can lift a long exact match a
    little above 1. `bleu_*` use today's NLTK smoothing; `bleu_*_nltk34` the pre-3.5 smoothing that the
    published DialogWAE-era scores were computed with (much higher on partial matches): compare those with
    published numbers, and `bleu_*` across our own models."""
    smoothings = {"": False, "_nltk34": True}
    recall, precision = dict.fromkeys(smoothings, 0.0), dict.fromkeys(smoothings, 0.0)
    for hyps, reference in zip(samples, references):
        ref, tokenized = word_punct_tokens(reference), [word_punct_tokens(h) for h in hyps]  # once for both
        for suffix, nltk34 in smoothings.items():
            scores = [dialogwae_sentence_bleu(h, ref, nltk34=nltk34) for h in tokenized]
            recall[suffix] += max(scores)
            precision[suffix] += sum(scores) / len(scores)
    n, found = max(1, len(references)), {}
    for suffix in smoothings:
        r, p = recall[suffix] / n, precision[suffix] / n
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        found.update({f"bleu_precision{suffix}": p, f"bleu_recall{suffix}": r, f"bleu_f1{suffix}": f1})
    return found


def pairwise_bleu(sample_sets: Sequence[Sequence[str]]) -> float:
    """Diversity of k outputs per source (Shen et al. 2019, "Mixture Models for Diverse Machine Translation"):
    the mean corpus BLEU of output set i against output set j over all ordered pairs i != j. 100: the k
    outputs are identical; lower: more diverse. Each set holds one output per source, in source order."""
    if len(sample_sets) < 2:
        raise ValueError(f"pairwise BLEU compares outputs with each other: needs 2 or more per source, got {len(sample_sets)}")
    pairs = [(i, j) for i in range(len(sample_sets)) for j in range(len(sample_sets)) if i != j]
    return sum(corpus_bleu(sample_sets[i], sample_sets[j])[0] for i, j in pairs) / len(pairs)


def distinct_n(sentences: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all sentences (whitespace tokens; Li et al. 2016)."""
    total, seen = 0, set()
    for sentence in sentences:
        tokens = sentence.split()
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def dialog_distinct(samples: Sequence[Sequence[str]]) -> dict[str, float]:
    """DialogWAE's diversity (Gu et al. 2019, their metrics.py div_distinct and sample.py) over k responses per
    context, on word_punct_tokens: intra-distinct-n, the distinct n-grams of one response over its n-grams,
    averaged over every response; inter-distinct-n, the distinct n-grams of a context's k responses together
    over their n-grams, averaged over contexts. An empty response scores 0."""
    intra: dict[int, list[float]] = {1: [], 2: []}
    inter: dict[int, list[float]] = {1: [], 2: []}
    for responses in samples:
        tokenized = [word_punct_tokens(r) for r in responses]
        for n in (1, 2):
            together, total = set(), 0
            for tokens in tokenized:
                grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
                intra[n].append(len(set(grams)) / len(grams) if grams else 0.0)
                together.update(grams)
                total += len(grams)
            inter[n].append(len(together) / total if total else 0.0)
    mean = lambda values: sum(values) / len(values) if values else 0.0  # noqa: E731
    return {f"{kind}_distinct_{n}": mean(found[n]) for kind, found in (("intra", intra), ("inter", inter)) for n in (1, 2)}
