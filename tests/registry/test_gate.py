"""The promotion rule on its own: floor for a first model, margin over the champion, guard tolerance, bad metrics."""

import math

from seqgen.registry.gate import GateConfig, decide

CFG = GateConfig(metric="bleu", margin=0.5, guard="chrf", tolerance=1.0, floor=20.0)


def test_first_model_needs_the_floor():
    assert decide({"bleu": 25.0, "chrf": 50.0}, None, CFG).promote
    refused = decide({"bleu": 19.9, "chrf": 50.0}, None, CFG)
    assert not refused.promote and "floor" in refused.reason


def test_challenger_must_beat_champion_by_the_margin():
    champion = {"bleu": 30.0, "chrf": 55.0}
    assert decide({"bleu": 30.6, "chrf": 55.0}, champion, CFG).promote
    assert not decide({"bleu": 30.4, "chrf": 56.0}, champion, CFG).promote
    assert not decide({"bleu": 20.0, "chrf": 40.0}, champion, CFG).promote


def test_guard_metric_may_not_regress_beyond_tolerance():
    champion = {"bleu": 30.0, "chrf": 55.0}
    assert decide({"bleu": 32.0, "chrf": 54.1}, champion, CFG).promote
    refused = decide({"bleu": 32.0, "chrf": 53.9}, champion, CFG)
    assert not refused.promote and "chrf" in refused.reason


def test_missing_or_nan_metrics_are_refused():
    for metrics in ({"bleu": math.nan, "chrf": 50.0}, {"chrf": 50.0}, {"bleu": 40.0}, {"bleu": "40", "chrf": 50.0}, {"bleu": math.inf, "chrf": 1.0}):
        decision = decide(metrics, {"bleu": 1.0, "chrf": 1.0}, CFG)
        assert not decision.promote and "missing or not finite" in decision.reason
        assert not decide(metrics, None, CFG).promote
