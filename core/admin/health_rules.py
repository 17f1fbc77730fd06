"""How queue health is judged: the :class:`Thresholds`, the red and amber rules a
window's figures break (:func:`_rules`) and the status the first of them sets
(:func:`_status`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.admin.health_models import Rule


@dataclass(frozen=True)
class Thresholds:
    """The seed's targets (amber when missed) and the lines past which it is red."""

    success_target: float = 0.95
    error_target: float = 0.02
    download_target: float = 0.90
    success_red: float = 0.80
    error_red: float = 0.10
    red_min_sample: int = 10  # fewer finished jobs than this can only make it amber
    queued_age_amber: float = 5 * 60
    queued_age_red: float = 30 * 60
    wait_p95_amber: float = 5 * 60


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _rules(
    t: Thresholds, *, success, error_rate, usage, sample, oldest_age, wait_p95, broker
) -> list[Rule]:
    rules: list[Rule] = []
    big = sample >= t.red_min_sample
    if broker is not None and broker.error:
        rules.append(Rule(level="red", text=f"broker unreachable: {broker.error}"))
    if success is not None and big and success < t.success_red:
        rules.append(Rule(level="red", text=f"success rate {_pct(success)} < {_pct(t.success_red)}"))
    if error_rate is not None and big and error_rate >= t.error_red:
        rules.append(Rule(level="red", text=f"error rate {_pct(error_rate)} ≥ {_pct(t.error_red)}"))
    if oldest_age is not None and oldest_age > t.queued_age_red:
        rules.append(Rule(level="red", text=f"oldest queued job waiting {oldest_age / 60:.0f} min"
                                            f" > {t.queued_age_red / 60:.0f} min"))
    if success is not None and not success > t.success_target:
        rules.append(Rule(level="amber", text=f"success rate {_pct(success)} ≤ target "
                                              f"{_pct(t.success_target)}"))
    if error_rate is not None and not error_rate < t.error_target:
        rules.append(Rule(level="amber", text=f"error rate {_pct(error_rate)} ≥ target "
                                              f"{_pct(t.error_target)}"))
    if usage is not None and not usage > t.download_target:
        rules.append(Rule(level="amber", text=f"download-link usage {_pct(usage)} ≤ target "
                                              f"{_pct(t.download_target)}"))
    if oldest_age is not None and oldest_age > t.queued_age_amber:
        rules.append(Rule(level="amber", text=f"oldest queued job waiting {oldest_age / 60:.0f}"
                                              f" min > {t.queued_age_amber / 60:.0f} min"))
    if wait_p95 is not None and wait_p95 > t.wait_p95_amber:
        rules.append(Rule(level="amber", text=f"queue wait p95 {wait_p95:.0f} s > "
                                              f"{t.wait_p95_amber:.0f} s"))
    if broker is not None and broker.dead_letters:
        rules.append(Rule(level="amber", text=f"{broker.dead_letters} dead-lettered message(s)"))
    return rules


def _status(rules: list[Rule]) -> tuple[Literal["green", "amber", "red"], str]:
    for level in ("red", "amber"):
        for rule in rules:
            if rule.level == level:
                return level, rule.text  # type: ignore[return-value]
    return "green", "every target met, queue moving"
