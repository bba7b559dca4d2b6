"""Aggregates with 95% bootstrap intervals.

Images of one prompt are correlated, so the bootstrap resamples prompts (clusters) within
each category, and categories independently (a stratified cluster bootstrap, through
``scipy.stats.bootstrap``). The resampling generator is seeded: the same judgments always
give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 2000


@dataclass
class Estimate:
    score: float
    ci: tuple[float, float]
    n: int


@dataclass
class SuiteResult:
    overall: float
    ci: tuple[float, float]
    n: int
    categories: dict[str, Estimate] = field(default_factory=dict)
    extras: dict[str, float] = field(default_factory=dict)
    scale: str = ""                 # what the numbers are, e.g. "100 x cosine"; "" for accuracies
    higher_is_better: bool = True
    shown: dict[str, str] = field(default_factory=dict)  # extras worth a report column: key -> title

    def to_json(self) -> dict:
        """Plain JSON; a score without samples is null. ``scale`` and direction only when a scale is set."""
        return {
            "overall": _num(self.overall),
            "ci": [_num(v) for v in self.ci],
            "n": self.n,
            "categories": {k: {"score": _num(e.score), "ci": [_num(v) for v in e.ci], "n": e.n}
                           for k, e in self.categories.items()},
            **({"extras": self.extras} if self.extras else {}),
            **({"scale": self.scale, "higher_is_better": self.higher_is_better} if self.scale else {}),
            **({"shown": self.shown} if self.shown else {}),
        }

    @classmethod
    def from_json(cls, d: dict) -> SuiteResult:
        cats = {k: Estimate(v["score"], tuple(v["ci"]), v["n"]) for k, v in d["categories"].items()}
        return cls(d["overall"], tuple(d["ci"]), d["n"], cats, d.get("extras", {}), d.get("scale", ""),
                   d.get("higher_is_better", True), d.get("shown", {}))


def _num(x: float) -> float | None:
    return None if x != x else x  # NaN -> None


def _clusters(values: Sequence[float], clusters: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for v, c in zip(values, clusters, strict=True):
        sums[c] = sums.get(c, 0.0) + float(v)
        counts[c] = counts.get(c, 0) + 1
    keys = list(sums)
    return np.array([sums[k] for k in keys]), np.array([counts[k] for k in keys], float)


def mean_of_means(
    groups: dict[str, tuple[Sequence[float], Sequence[str]]], confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Unweighted mean over groups of each group's per-sample mean, with a bootstrap CI.

    ``groups`` maps a group name to (per-sample values, per-sample cluster ids).
    """
    parts = [_clusters(v, c) for v, c in groups.values() if len(v)]
    if not parts:
        return float("nan"), (float("nan"), float("nan"))
    point = float(np.mean([s.sum() / n.sum() for s, n in parts]))
    if any(len(s) < 2 for s, _ in parts):  # too few clusters: resample samples instead
        parts = [(np.asarray(v, float), np.ones(len(v))) for v, _ in groups.values() if len(v)]
        if any(len(s) < 2 for s, _ in parts):
            return point, (point, point)

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        means = [s[i].sum(axis) / n[i].sum(axis) for (s, n), i in zip(parts, idx, strict=True)]
        return np.mean(means, axis=0)

    data = tuple(np.arange(len(s)) for s, _ in parts)
    res = stats.bootstrap(
        data, statistic, n_resamples=N_RESAMPLES, confidence_level=confidence, method="percentile",
        vectorized=True, rng=np.random.default_rng(seed),
    )
    lo, hi = res.confidence_interval
    return point, (float(min(lo, point)), float(max(hi, point)))


def estimate(values: Sequence[float], clusters: Sequence[str], confidence: float = CONFIDENCE) -> Estimate:
    """Mean of ``values`` with a cluster-bootstrap interval (NaN when there are none)."""
    if not len(values):
        return Estimate(float("nan"), (float("nan"), float("nan")), 0)
    score, ci = mean_of_means({"all": (values, clusters)}, confidence)
    return Estimate(score, ci, len(values))

