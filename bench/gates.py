"""Gates: rules over a run's scores, each decided pass, fail or inconclusive.

A rules file (TOML) holds a confidence level and rules, one per suite / metric / category::

    confidence = 0.95
    [[rule]]
    suite = "geneval-world"
    category = "counting"      # default "overall"
    min = 0.8                  # an absolute floor
    [[rule]]
    suite = "geneval-world"
    max_drop = 0.05            # against a baseline run, paired over shared prompts and seeds
    min_n = 400                # fewer samples than this: inconclusive

``min`` passes when the whole interval of the score lies at or above the floor, fails when it
lies below, and is inconclusive when it straddles the floor. ``max_drop`` bootstraps the drop
(baseline minus candidate) over the (prompt, seed) pairs both runs judged, resampling prompts
within categories (a paired, stratified cluster bootstrap): it passes when the drop's upper
bound is within the margin, fails when its lower bound exceeds it, and is inconclusive
otherwise; a negative margin asks for a gain. Inconclusive is never pass: a gate passes only
when every rule passes.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import CONFIDENCE, mean_of_means
from bench.store import own_judgments

DECISIONS = ("pass", "fail", "inconclusive")
EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 3}
RULE_KEYS = {"suite", "category", "metric", "min", "max_drop", "min_n"}


@dataclass(frozen=True)
class Rule:
    suite: str
    category: str = "overall"
    metric: str = "score"
    min: float | None = None
    max_drop: float | None = None
    min_n: int = 1

    @property
    def name(self) -> str:
        return f"{self.suite}::{self.metric}::{self.category}"


@dataclass(frozen=True)
class GateSpec:
    rules: tuple[Rule, ...]
    confidence: float = CONFIDENCE


@dataclass
class RuleResult:
    rule: str
    decision: str
    value: float | None
    ci: tuple[float, float] | None
    n: int
    reason: str
    baseline: float | None = None
    threshold: dict[str, float] = field(default_factory=dict)


@dataclass
class GateReport:
    decision: str
    results: list[RuleResult]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "rules": [asdict(r) for r in self.results]}


def load_rules(path: str | Path) -> GateSpec:
    """Rules from a TOML file; an unknown key or a rule without a test names the rule."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"rules file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"rules file {path} is not valid TOML: {e}") from None
    return parse_rules(data, f"rules file {path}")


def parse_rules(data: dict[str, Any], where: str) -> GateSpec:
    """Rules from a parsed table ``{"confidence": ..., "rule": [{...}, ...]}``."""
    rules = []
    for i, raw in enumerate(data.get("rule", [])):
        at = f"{where}: rule {i + 1}"
        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise ValueError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(RULE_KEYS))}")
        if "suite" not in raw:
            raise ValueError(f"{at}: no suite")
        if "min" not in raw and "max_drop" not in raw:
            raise ValueError(f"{at} ({raw['suite']}): give min, max_drop or both")
        if raw.get("metric", "score") != "score":
            raise ValueError(f"{at}: metric {raw['metric']!r} is not supported (only 'score')")
        rules.append(Rule(**raw))
    if not rules:
        raise ValueError(f"{where} has no [[rule]] tables")
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{where}: more than one rule for {', '.join(dupes)}; merge them")
    confidence = float(data.get("confidence", CONFIDENCE))
    if not 0.5 <= confidence < 1:
        raise ValueError(f"{where}: confidence {confidence} must be in [0.5, 1)")
    return GateSpec(tuple(rules), confidence)


class RunData:
    """A finished run directory: its manifest, aggregates and per-image scores."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        manifest = self.dir / "manifest.json"
        if not manifest.exists():
            raise ValueError(f"{self.dir} is not a gauntlet run (no manifest.json)")
        self.manifest = json.loads(manifest.read_text())
        self.results: dict[str, dict] = self.manifest.get("results") or {}
        self.suites = {s["name"]: s for s in self.manifest["run_spec"]["suites"]}

    def scores(self, suite: str) -> dict[tuple[str, int], tuple[str, float]]:
        """(prompt id, seed) -> (category, score) for this run's judge of ``suite``."""
        s = self.suites[suite]
        seeds = set(self.manifest["run_spec"]["seeds"])
        rows = own_judgments(self.dir / "store.sqlite", self.manifest["run_spec"], suite, s["version"], s["judge_id"])
        return {(j.prompt_id, j.seed): (j.category, j.score) for j in rows if j.seed in seeds}


def _combine(decisions: list[str]) -> str:
    if "fail" in decisions:
        return "fail"
    return "inconclusive" if "inconclusive" in decisions or not decisions else "pass"


def _estimate(run: RunData, rule: Rule) -> tuple[float, tuple[float, float], int] | None:
    res = run.results.get(rule.suite)
    if res is None:
        return None
    if rule.category == "overall":
        return res["overall"], tuple(res["ci"]), res["n"]
    cat = res["categories"].get(rule.category)
    return (cat["score"], tuple(cat["ci"]), cat["n"]) if cat else None


def check_min(run: RunData, rule: Rule) -> RuleResult:
    est = _estimate(run, rule)
    if est is None or est[0] is None:
        return RuleResult(rule.name, "inconclusive", None, None, 0, f"no score for {rule.name} in {run.dir}",
                          threshold={"min": rule.min})
    value, (lo, hi), n = est
    if n < rule.min_n:
        decision, reason = "inconclusive", f"n={n} < min_n={rule.min_n}"
    elif lo >= rule.min:
        decision, reason = "pass", f"interval [{lo:.3f}, {hi:.3f}] is at or above min {rule.min}"
    elif hi < rule.min:
        decision, reason = "fail", f"{value:.3f}, interval [{lo:.3f}, {hi:.3f}], is below min {rule.min}"
    else:
        decision, reason = "inconclusive", f"interval [{lo:.3f}, {hi:.3f}] straddles min {rule.min}"
    return RuleResult(rule.name, decision, value, (lo, hi), n, reason, threshold={"min": rule.min})


def paired_drop(run: RunData, base: RunData, rule: Rule, confidence: float
                ) -> tuple[float, float, float, tuple[float, float], int]:
    """(candidate value, baseline value, drop, drop interval, n pairs) on shared (prompt, seed)."""
    cand, ref = run.scores(rule.suite), base.scores(rule.suite)
    shared = sorted(set(cand) & set(ref))
    if rule.category != "overall":
        shared = [k for k in shared if cand[k][0] == rule.category]
    if not shared:
        return float("nan"), float("nan"), float("nan"), (float("nan"), float("nan")), 0
    # the units the value averages: prompts (each its mean over seeds) for an overall that is a mean
    # over prompts, else images grouped by category; each unit is (prompt, candidate, baseline)
    groups: dict[str, list[tuple[str, float, float]]] = {}
    if rule.category == "overall" and run.suites[rule.suite].get("overall_mode", "prompt_means") != "category_means":
        per_prompt: dict[str, list[tuple[float, float]]] = {}
        for key in shared:
            per_prompt.setdefault(key[0], []).append((cand[key][1], ref[key][1]))
        groups["all"] = [(p, sum(c for c, _ in v) / len(v), sum(b for _, b in v) / len(v))
                         for p, v in per_prompt.items()]
    else:
        for key in shared:
            groups.setdefault(cand[key][0], []).append((key[0], cand[key][1], ref[key][1]))
    c_val = sum(sum(c for _, c, _ in g) / len(g) for g in groups.values()) / len(groups)
    b_val = sum(sum(b for _, _, b in g) / len(g) for g in groups.values()) / len(groups)
    drop, ci = mean_of_means({k: ([b - c for _, c, b in g], [p for p, _, _ in g]) for k, g in groups.items()},
                             confidence)
    return c_val, b_val, drop, ci, len(shared)


def drop_decision(ci: tuple[float, float], max_drop: float) -> str:
    """pass when the drop's upper bound is within the margin, fail when its lower bound exceeds it."""
    lo, hi = ci
    if hi <= max_drop:
        return "pass"
    return "fail" if lo > max_drop else "inconclusive"


def check_max_drop(run: RunData, base: RunData | None, rule: Rule, confidence: float) -> RuleResult:
    th = {"max_drop": rule.max_drop}
    if base is None:
        return RuleResult(rule.name, "inconclusive", None, None, 0, "max_drop needs a baseline run", threshold=th)
    for r, what in ((run, "run"), (base, "baseline")):
        if rule.suite not in r.suites:
            return RuleResult(rule.name, "inconclusive", None, None, 0, f"the {what} has no {rule.suite}",
                              threshold=th)
    if run.suites[rule.suite]["judge_id"] != base.suites[rule.suite]["judge_id"]:
        return RuleResult(rule.name, "inconclusive", None, None, 0, "run and baseline were judged by different "
                          f"judges ({run.suites[rule.suite]['judge_id']} vs {base.suites[rule.suite]['judge_id']})",
                          threshold=th)
    value, base_value, drop, (lo, hi), n = paired_drop(run, base, rule, confidence)
    if n < max(rule.min_n, 2):
        return RuleResult(rule.name, "inconclusive", None, None, n, f"{n} shared samples < min_n={rule.min_n}",
                          threshold=th)
    decision = drop_decision((lo, hi), rule.max_drop)
    why = {"pass": "is within", "fail": "exceeds", "inconclusive": "straddles"}[decision]
    reason = (f"drop {drop:+.3f} from baseline {base_value:.3f}, interval [{lo:+.3f}, {hi:+.3f}], {why} "
              f"max_drop {rule.max_drop} ({n} paired samples)")
    return RuleResult(rule.name, decision, value, (lo, hi), n, reason, base_value, th)


def gate(run_dir: str | Path, spec: GateSpec, baseline_dir: str | Path | None = None) -> GateReport:
    """Decide every rule of ``spec`` on a run (and a baseline run for ``max_drop`` rules)."""
    run = RunData(run_dir)
    base = RunData(baseline_dir) if baseline_dir else None
    results = []
    for rule in spec.rules:
        parts = []
        if rule.min is not None:
            parts.append(check_min(run, rule))
        if rule.max_drop is not None:
            parts.append(check_max_drop(run, base, rule, spec.confidence))
        first = parts[0]
        decision = _combine([p.decision for p in parts])
        reason = "; ".join(p.reason for p in parts)
        baseline = next((p.baseline for p in parts if p.baseline is not None), None)
        threshold = {k: v for p in parts for k, v in p.threshold.items()}
        results.append(RuleResult(rule.name, decision, first.value, first.ci, first.n, reason, baseline, threshold))
    return GateReport(_combine([r.decision for r in results]), results)
