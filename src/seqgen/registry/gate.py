"""The promotion gate as a pure decision: does a challenger's metrics earn it the champion alias?

Kept free of MLflow so the rule can be read, and tested, on its own. Every metric is higher-is-better.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


@dataclasses.dataclass(frozen=True)
class GateConfig:
    metric: str  # primary metric the challenger must improve (translation: bleu; dialogue: bleu_f1)
    margin: float  # by at least this much over the champion
    guard: str  # guard metric that must not regress (translation: chrf; dialogue: distinct_2)
    tolerance: float  # largest allowed drop of the guard metric
    floor: float  # a first champion needs at least this primary metric


@dataclasses.dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def _value(metrics: dict[str, Any] | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def decide(challenger: dict[str, Any], champion: dict[str, Any] | None, cfg: GateConfig) -> Decision:
    """Promote only on valid metrics that clear the floor (first model) or beat the champion by the
    margin without regressing the guard beyond the tolerance."""
    bad = [key for key in (cfg.metric, cfg.guard) if _value(challenger, key) is None]
    if bad:
        shown = {key: challenger.get(key, "missing") for key in bad}
        return Decision(False, f"refused: challenger metrics missing or not finite: {shown}")
    primary, guard = _value(challenger, cfg.metric), _value(challenger, cfg.guard)
    champion_primary, champion_guard = _value(champion, cfg.metric), _value(champion, cfg.guard)
    if champion is None or champion_primary is None:
        why = "no champion yet" if champion is None else "the champion has no valid metrics"
        if primary >= cfg.floor:
            return Decision(True, f"promoted: {why}; {cfg.metric} {primary:.4g} >= floor {cfg.floor:.4g}")
        return Decision(False, f"refused: {why}; {cfg.metric} {primary:.4g} is under the floor {cfg.floor:.4g}")
    if primary < champion_primary + cfg.margin:
        return Decision(False, f"refused: {cfg.metric} {primary:.4g} does not beat the champion's {champion_primary:.4g} by the margin {cfg.margin:.4g}")
    if champion_guard is not None and guard < champion_guard - cfg.tolerance:
        return Decision(False, f"refused: guard {cfg.guard} {guard:.4g} regresses from the champion's {champion_guard:.4g} by more than {cfg.tolerance:.4g}")
    return Decision(True, f"promoted: {cfg.metric} {primary:.4g} beats the champion's {champion_primary:.4g} by >= {cfg.margin:.4g}; "
                          f"guard {cfg.guard} {guard:.4g} (champion {champion_guard if champion_guard is not None else 'n/a'})")
