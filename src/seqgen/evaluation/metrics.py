"""Scores: corpus sacreBLEU and chrF (with their signatures), multi-sample BLEU (DialogWAE protocol),
distinct-n. Hypotheses and references are detokenised text."""

from __future__ import annotations

from typing import Sequence


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacreBLEU with its defaults (13a tokenisation, cased) and the signature that makes it comparable."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(force=True)  # DailyDialog is distributed pre-tokenised; we score it as it is, knowingly
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())  # the signature is complete only after scoring


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def multi_sample_bleu(samples: Sequence[Sequence[str]], references: Sequence[str]) -> dict[str, float]:
    """DialogWAE protocol: for each context, sentence BLEU (up to 3-grams, smoothed) of every sample
    against the reference; recall = mean over contexts of the max, precision = mean of the mean, F1 their
    harmonic mean. On a 0-1 scale as published. (DialogWAE used NLTK's smoothing method 7; this uses
    sacreBLEU's exponential smoothing, so values are close to, not identical with, theirs.)"""
    from sacrebleu.metrics import BLEU

    metric = BLEU(max_ngram_order=3, effective_order=True)
    recall = precision = 0.0
    for hyps, reference in zip(samples, references):
        scores = [metric.sentence_score(h, [reference]).score / 100.0 for h in hyps]
        recall += max(scores)
        precision += sum(scores) / len(scores)
    n = max(1, len(references))
    recall, precision = recall / n, precision / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"bleu_precision": precision, "bleu_recall": recall, "bleu_f1": f1}


def distinct_n(sentences: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all sentences (whitespace tokens; Li et al. 2016)."""
    total, seen = 0, set()
    for sentence in sentences:
        tokens = sentence.split()
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0
