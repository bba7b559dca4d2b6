"""CI baselines: a small JSON of a run's expected aggregates, and a check against it.

``gauntlet baseline save --run DIR -o FILE`` keeps each suite's overall and per-category
scores with a tolerance; ``gauntlet baseline check --run DIR --baseline FILE`` lists every
value that moved by more than its tolerance (exit 1) or says all hold (exit 0). gauntlet's own
tests use it on a deterministic world run to catch regressions in gauntlet itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.gates import RunData


def snapshot(run_dir: str | Path, tolerance: float = 1e-6) -> dict:
    run = RunData(run_dir)
    values = {}
    for suite, res in run.results.items():
        values[suite] = {"overall": res["overall"], "n": res["n"],
                         "categories": {k: v["score"] for k, v in res["categories"].items()}}
    return {"candidate": run.manifest["run_spec"]["candidate"], "seeds": run.manifest["run_spec"]["seeds"],
            "tolerance": tolerance, "suites": values}


def save(run_dir: str | Path, path: str | Path, tolerance: float = 1e-6) -> Path:
    path = Path(path)
    path.write_text(json.dumps(snapshot(run_dir, tolerance), indent=2) + "\n")
    return path


def check(run_dir: str | Path, path: str | Path) -> list[str]:
    """Differences between a run and a saved baseline, one readable line each (empty: all hold)."""
    try:
        expected = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"baseline file {path} does not exist") from None
    got = snapshot(run_dir)
    tol = float(expected.get("tolerance", 1e-6))
    problems = []
    for suite, exp in expected["suites"].items():
        if suite not in got["suites"]:
            problems.append(f"{suite}: missing from the run")
            continue
        g = got["suites"][suite]
        pairs = [("overall", exp["overall"], g["overall"])]
        pairs += [(k, v, g["categories"].get(k)) for k, v in exp["categories"].items()]
        for name, want, have in pairs:
            if have is None or want is None:
                if have != want:
                    problems.append(f"{suite} {name}: expected {want}, got {have}")
            elif abs(have - want) > tol:
                problems.append(f"{suite} {name}: expected {want:.6f}, got {have:.6f} (tolerance {tol:g})")
        if g["n"] != exp["n"]:
            problems.append(f"{suite} n: expected {exp['n']}, got {g['n']}")
    return problems
