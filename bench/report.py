"""What ``gauntlet run`` prints: a table per suite, or JSON, and failures on stderr."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.gates import GateReport
from bench.runner import RunOutcome


def results_json(outcomes: Sequence[RunOutcome]) -> dict:
    """``{candidate: {suite: {overall, ci, n, categories: {name: {score, ci, n}}}}}``."""
    return {o.candidate: {s: r.to_json() for s, r in o.results.items()} for o in outcomes}


def print_table(outcomes: Sequence[RunOutcome], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 200)
    suites = list(dict.fromkeys(s for o in outcomes for s in o.results))
    for suite in suites:
        cats = list(dict.fromkeys(c for o in outcomes if suite in o.results for c in o.results[suite].categories))
        table = Table(title=f"{suite}  ({_scale_note(outcomes, suite)}95% bootstrap interval; n images)",
                      title_justify="left")
        table.add_column("candidate", no_wrap=True)
        table.add_column("overall [95% CI]", justify="right", no_wrap=True)
        shown = {k: t for o in outcomes if suite in o.results for k, t in o.results[suite].shown.items()}
        extras = [k for k in shown if any(k in o.results[suite].extras for o in outcomes if suite in o.results)]
        for c in cats:
            table.add_column(c, justify="right")
        for k in extras:
            table.add_column(shown[k], justify="right")
        table.add_column("n", justify="right")
        for o in outcomes:
            r = o.results.get(suite)
            if r is None:
                continue
            cells = [f"{r.categories[c].score:.3f}" if c in r.categories else "-" for c in cats]
            cells += [f"{r.extras[k]:.3f}" if k in r.extras else "-" for k in extras]
            flag = " (partial)" if o.partial else ""
            table.add_row(o.candidate + flag, f"{r.overall:.3f} [{r.ci[0]:.2f}, {r.ci[1]:.2f}]", *cells, str(r.n))
        console.print(table)


def _scale_note(outcomes: Sequence[RunOutcome], suite: str) -> str:
    """``"100 x cosine, higher is better; "`` for a suite whose results name a scale, else ``""``."""
    r = next((o.results[suite] for o in outcomes if suite in o.results and o.results[suite].scale), None)
    if r is None:
        return ""
    return f"{r.scale}, {'higher' if r.higher_is_better else 'lower'} is better; "


def print_failures(outcome: RunOutcome, console: Console) -> None:
    if not outcome.failures:
        return
    console.print(f"{len(outcome.failures)} image(s) of {outcome.candidate} could not be scored; "
                  f"the run is marked partial in {outcome.run_dir / 'manifest.json'}:",
                  style="bold red", markup=False, highlight=False, soft_wrap=True)
    for f in outcome.failures[:20]:
        console.print(f"  - {f['reason']}", markup=False, highlight=False, soft_wrap=True)
    if len(outcome.failures) > 20:
        console.print(f"  ... and {len(outcome.failures) - 20} more (all listed in the manifest)")


def print_rounds(rounds: Sequence[dict], console: Console | None = None) -> None:
    """One row per training round: decision, overall scores, data size, time."""
    console = console or Console(width=None if Console().is_terminal else 200)
    suites = list(dict.fromkeys(s for r in rounds for s in (r["scores"] or {})))
    table = Table(title="training rounds", title_justify="left")
    for col in ("round", "decision", *suites, "data", "seconds", "reason"):
        table.add_column(col)
    for r in rounds:
        scores = [f"{r['scores'][s]['overall']:.3f}" if r["scores"] and s in r["scores"] else "-" for s in suites]
        table.add_row(str(r["idx"]), r["decision"] or r["status"], *scores, str(r["data_size"] or ""),
                      f"{r['seconds'] or 0:.0f}", r["reason"] or "")
    console.print(table)


def print_gate(report: GateReport, console: Console | None = None) -> None:
    """One row per rule: decision, value, interval, baseline, reason."""
    console = console or Console(width=None if Console().is_terminal else 200)
    table = Table(title=f"gate: {report.decision.upper()}", title_justify="left")
    for col in ("rule", "decision", "value", "interval", "baseline", "reason"):
        table.add_column(col, overflow="fold")
    style = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for r in report.results:
        table.add_row(r.rule, f"[{style[r.decision]}]{r.decision}[/]",
                      "-" if r.value is None else f"{r.value:.3f}",
                      "-" if r.ci is None else f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]",
                      "-" if r.baseline is None else f"{r.baseline:.3f}", escape(r.reason))
    console.print(table)
