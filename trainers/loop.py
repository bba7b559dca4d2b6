"""The gated round loop every trainer runs on.

Each round: start from the last promoted checkpoint, let the trainer train one round, save
the checkpoint (atomically: a temporary folder renamed into place), score it with the
configured suites through the normal runner, gate it against the last promoted round (and, with
``[gate] against = ["promoted", "initial"]``, also against the initial checkpoint), then
promote it or roll it back. ``[[gate.round]]`` tables add rules for some rounds only, each with
its own ``against`` (a stage that may cost a little, then stages that must not). Every step's
outcome is committed to the loop's store before the next step starts, so a loop killed
anywhere resumes at the first unfinished step.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from bench.gates import GateSpec, gate, parse_rules
from bench.runner import run, run_dir_name
from bench.stats import CONFIDENCE, SuiteResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    idx INTEGER PRIMARY KEY, status TEXT NOT NULL, parent TEXT NOT NULL, checkpoint TEXT,
    data_size INTEGER, train_seconds REAL, scores TEXT, decision TEXT, reason TEXT, seconds REAL);
CREATE TABLE IF NOT EXISTS loop (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class RoundContext:
    """What a trainer gets for one round."""

    index: int
    start: str  # checkpoint folder to start from
    out: Path  # folder to save the new checkpoint into (a diffusers pipeline folder)
    last_scores: dict[str, SuiteResult] | None  # scores of the start checkpoint
    options: dict[str, Any]
    work_dir: Path | None = None  # the loop's folder (earlier rounds' checkpoints live there)


TrainRound = Callable[[RoundContext], dict[str, Any]]  # returns the round's data manifest

OptionsT = TypeVar("OptionsT")


def trainer_options(cls: type[OptionsT], raw: dict[str, Any], trainer: str) -> OptionsT:
    """A trainer's options dataclass from its ``[options]`` table; unknown keys are named."""
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"{trainer}: unknown option(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return cls(**raw)


@dataclass(frozen=True)
class RoundGate:
    """Rules that apply to some rounds only (``[[gate.round]]``), against their own checkpoints."""

    rounds: tuple[int, ...]
    against: tuple[str, ...]
    spec: GateSpec


@dataclass
class LoopConfig:
    init: str
    work_dir: Path
    rounds: int
    suites: list[str]
    images_per_prompt: int = 2
    limit: int | None = None
    candidate_options: str = ""
    gate: GateSpec = field(default_factory=lambda: GateSpec(()))
    options: dict[str, Any] = field(default_factory=dict)
    # which checkpoints each round is gated against: the last promoted round, the initial
    # checkpoint, or both (so that small drops within the margin cannot add up round after round)
    gate_against: tuple[str, ...] = ("promoted",)
    round_gates: tuple[RoundGate, ...] = ()


class RoundLoop:
    def __init__(self, config: LoopConfig, train_round: TrainRound, log: Callable[[str], None] = print) -> None:
        self.cfg, self.train_round, self.log = config, train_round, log
        self.cfg.work_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.cfg.work_dir / "loop.sqlite", timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    # state ------------------------------------------------------------------------------
    def _get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM loop WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set(self, **values: str) -> None:
        self.db.executemany("INSERT OR REPLACE INTO loop VALUES (?, ?)", list(values.items()))

    def rounds(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM rounds ORDER BY idx")
        cols = [c[0] for c in cur.description]
        out = []
        for row in cur.fetchall():
            rec = dict(zip(cols, row, strict=True))
            rec["scores"] = json.loads(rec["scores"]) if rec["scores"] else None
            out.append(rec)
        return out

    # steps ------------------------------------------------------------------------------
    def _spec(self, checkpoint: str) -> str:
        return f"diffusers:{checkpoint}" + (f":{self.cfg.candidate_options}" if self.cfg.candidate_options else "")

    def _run_dir(self, checkpoint: str) -> Path:
        return self.cfg.work_dir / "runs" / run_dir_name(self._spec(checkpoint))

    def _score(self, checkpoint: str) -> dict[str, SuiteResult]:
        outcome = run(self._spec(checkpoint), self.cfg.suites, self.cfg.work_dir / "runs", self.cfg.images_per_prompt,
                      limit=self.cfg.limit)
        return outcome.results

    def _decide(self, idx: int, checkpoint: str) -> tuple[str, str]:
        """Gate the new checkpoint's run against the last promoted one's (and/or the initial
        checkpoint's, as ``gate_against`` says), with the ``[[gate.round]]`` rules for round ``idx``
        against theirs: promote only if every rule passes against each."""
        checks = [(self.cfg.gate, self.cfg.gate_against)] if self.cfg.gate.rules else []
        checks += [(g.spec, g.against) for g in self.cfg.round_gates if idx in g.rounds]
        if not checks:
            return "promote", "no gate rules"
        refs = {"promoted": self._get("promoted", self.cfg.init), "initial": self.cfg.init}
        several = len({a for _, against in checks for a in against}) > 1
        failed = []
        for spec, against in checks:
            for ref in dict.fromkeys(against):
                report = gate(self._run_dir(checkpoint), spec, self._run_dir(refs[ref]))
                prefix = f"vs {ref}: " if several else ""
                failed += [f"{prefix}{r.rule} {r.decision}: {r.reason}" for r in report.results if r.decision != "pass"]
        return ("promote", "all rules pass") if not failed else ("reject", "; ".join(failed))

    def _baseline(self) -> dict[str, SuiteResult]:
        """Scores of the initial checkpoint (round 0 of the record), computed once."""
        saved = self._get("baseline_scores")
        if saved is None:
            self.log(f"scoring the initial checkpoint {self.cfg.init}")
            scores = self._score(self.cfg.init)
            with self.db:
                self._set(baseline_scores=json.dumps({k: v.to_json() for k, v in scores.items()}),
                          promoted=self.cfg.init)
            return scores
        return {k: SuiteResult.from_json(v) for k, v in json.loads(saved).items()}

    def run(self) -> list[dict[str, Any]]:
        baseline = self._baseline()
        for idx in range(1, self.cfg.rounds + 1):
            self._round(idx, baseline)
        return self.rounds()

    def _promoted_scores(self, baseline: dict[str, SuiteResult]) -> dict[str, SuiteResult]:
        row = self.db.execute("SELECT scores FROM rounds WHERE decision='promote' ORDER BY idx DESC LIMIT 1").fetchone()
        return {k: SuiteResult.from_json(v) for k, v in json.loads(row[0]).items()} if row else baseline

    def _round(self, idx: int, baseline: dict[str, SuiteResult]) -> None:
        rec = self.db.execute("SELECT status, parent, checkpoint FROM rounds WHERE idx=?", (idx,)).fetchone()
        status = rec[0] if rec else None
        if status == "decided":
            return
        t0 = time.time()
        out = self.cfg.work_dir / f"round-{idx:03d}"
        if status is None:
            parent = self._get("promoted", self.cfg.init)
            self.log(f"round {idx}: training from {parent}")
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            ctx = RoundContext(idx, parent, tmp, self._promoted_scores(baseline), dict(self.cfg.options),
                               self.cfg.work_dir)
            manifest = self.train_round(ctx)
            (tmp / "data_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO rounds (idx, status, parent, checkpoint, data_size, "
                                "train_seconds) VALUES (?, 'trained', ?, ?, ?, ?)",
                                (idx, parent, str(out), int(manifest.get("data_size", 0)), time.time() - t0))
            t0 = time.time()  # train_seconds holds the training: count what follows from here
            status = "trained"
        if status == "trained":
            self.log(f"round {idx}: scoring {out}")
            scores = self._score(str(out))
            with self.db:
                self.db.execute("UPDATE rounds SET status='scored', scores=? WHERE idx=?",
                                (json.dumps({k: v.to_json() for k, v in scores.items()}), idx))
            status = "scored"
        if status == "scored":
            row = self.db.execute("SELECT scores, train_seconds FROM rounds WHERE idx=?", (idx,)).fetchone()
            decision, reason = self._decide(idx, str(out))
            with self.db:
                self.db.execute("UPDATE rounds SET status='decided', decision=?, reason=?, seconds=? WHERE idx=?",
                                (decision, reason, (row[1] or 0) + time.time() - t0, idx))
                if decision == "promote":
                    self._set(promoted=str(out))
            self.log(f"round {idx}: {decision} ({reason})")


def load_config(path: Path) -> LoopConfig:
    """A loop config from TOML; every missing or unknown key is named in the error."""
    import tomllib

    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"cannot read training config {path}: {e}") from None
    known = {"trainer", "init", "work_dir", "rounds", "suites", "images_per_prompt", "limit", "candidate_options",
             "gate", "options"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    for key in ("init", "work_dir", "rounds", "suites"):
        if key not in raw:
            raise ValueError(f"{path}: missing key {key!r}")
    suites = list(raw["suites"])
    return LoopConfig(
        init=resolve_checkpoint(raw["init"]), work_dir=Path(raw["work_dir"]), rounds=int(raw["rounds"]),
        suites=suites, images_per_prompt=int(raw.get("images_per_prompt", 2)), limit=raw.get("limit"),
        candidate_options=raw.get("candidate_options", ""), gate=gate_spec(raw.get("gate", {}), suites, path),
        options=dict(raw.get("options", {})), gate_against=gate_against(raw.get("gate", {}), path),
        round_gates=round_gates(raw.get("gate", {}), suites, path))


GATE_AGAINST = ("promoted", "initial")
GATE_KEYS = {"rule", "max_drop", "min_overall", "confidence", "against"}  # [gate] and each [[gate.round]]


def gate_against(table: dict[str, Any], where: str | Path) -> tuple[str, ...]:
    """``[gate] against``: "promoted" (default), "initial", or a list of both."""
    raw = table.get("against", "promoted")
    values = (raw,) if isinstance(raw, str) else tuple(raw)
    bad = [v for v in values if v not in GATE_AGAINST]
    if bad or not values:
        raise ValueError(f"{where}: [gate] against must be one or both of {', '.join(GATE_AGAINST)}, not {raw!r}")
    return values


def gate_spec(table: dict[str, Any], suites: list[str], where: str | Path) -> GateSpec:
    """The ``[gate]`` table: ``[[gate.rule]]`` rules as in a rules file, and two shorthands,
    ``max_drop`` (on every suite's overall) and ``min_overall = {suite = floor}``."""
    unknown = set(table) - GATE_KEYS - {"round"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) in [gate]: {', '.join(sorted(unknown))}")
    rules: dict[str, dict[str, Any]] = {}
    for suite in suites:
        r: dict[str, Any] = {}
        if "max_drop" in table:
            r["max_drop"] = float(table["max_drop"])
        if suite in table.get("min_overall", {}):
            r["min"] = float(table["min_overall"][suite])
        if r:
            rules[suite] = {"suite": suite, **r}
    listed = [*rules.values(), *table.get("rule", [])]
    if not listed:
        return GateSpec(())
    return parse_rules({"confidence": table.get("confidence", CONFIDENCE), "rule": listed}, f"{where} [gate]")


def round_gates(table: dict[str, Any], suites: list[str], where: str | Path) -> tuple[RoundGate, ...]:
    """``[[gate.round]]`` tables: ``rounds = [..]``, ``against`` (default "promoted") and
    ``[[gate.round.rule]]`` rules (or the ``max_drop`` / ``min_overall`` shorthands)."""
    out = []
    for i, raw in enumerate(table.get("round", [])):
        at = f"{where} [[gate.round]] {i + 1}"
        unknown = set(raw) - GATE_KEYS - {"rounds"}
        if unknown:
            raise ValueError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        rounds = raw.get("rounds")
        if not isinstance(rounds, list) or not rounds or not all(isinstance(r, int) and r >= 1 for r in rounds):
            raise ValueError(f"{at}: rounds must be a list of round numbers (1, 2, ...), not {rounds!r}")
        spec = gate_spec({k: v for k, v in raw.items() if k not in ("rounds", "against")}, suites, at)
        if not spec.rules:
            raise ValueError(f"{at}: no rules")
        out.append(RoundGate(tuple(rounds), gate_against(raw, at), spec))
    return tuple(out)


def resolve_checkpoint(ref: str) -> str:
    """A checkpoint folder from a path, or from a candidate spec naming one (``diffusers:PATH``, ``world:base``)."""
    if ref == "world:base":
        from bench.candidates.world import BASE_MODEL

        return str(BASE_MODEL)
    if ref.startswith("diffusers:"):
        return ref.split(":", 1)[1]
    return ref
