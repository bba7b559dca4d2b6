"""gauntlet's pytest plugin: one test item per gate rule, and a fixture for your own tests.

    pytest --gauntlet-candidate world:noisy:count=0.5 --gauntlet-rules gates.toml \
        [--gauntlet-baseline RUN_DIR] [--gauntlet-out gauntlet-runs] [--gauntlet-images-per-prompt 4]

collects one item per rule, named ``suite::metric::category``. The first item to run runs the
candidate through the rules' suites (or reuses a finished run in ``--gauntlet-out``) and
decides every rule; each item then passes or fails with the rule's value, interval and
threshold. ``-k``, ``-x`` and ``--junitxml`` work as for any test. An inconclusive rule fails
its item too: inconclusive is never pass.

The ``gauntlet_gate`` fixture does the same from a test file:
``report = gauntlet_gate("world:oracle", "gates.toml")`` returns a :class:`bench.gates.GateReport`.

Registered through the ``pytest11`` entry point, so it loads with every pytest session in an
environment where gauntlet is installed; it imports nothing heavy until it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gauntlet", "gauntlet gates")
    group.addoption("--gauntlet-candidate", metavar="SPEC", help="the candidate to gate (a gauntlet candidate spec)")
    group.addoption("--gauntlet-rules", metavar="FILE", help="gate rules (TOML); one test item per rule")
    group.addoption("--gauntlet-baseline", metavar="DIR", help="the baseline run folder for max_drop rules")
    group.addoption("--gauntlet-out", metavar="DIR", default="gauntlet-runs",
                    help="where runs go (default ./gauntlet-runs)")
    group.addoption("--gauntlet-images-per-prompt", type=int, default=4, metavar="N",
                    help="seeds per prompt (default 4)")


class GateFailure(Exception):
    """A rule did not pass; carries its result for the report."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.reason)
        self.result = result


class _GateSession:
    """Runs the candidate and decides all rules once, on first need."""

    def __init__(self, config: pytest.Config) -> None:
        from bench.gates import load_rules

        self.candidate = config.getoption("gauntlet_candidate")
        self.rules_path = Path(config.getoption("gauntlet_rules"))
        self.spec = load_rules(self.rules_path)
        self.baseline = config.getoption("gauntlet_baseline")
        self.out = Path(config.getoption("gauntlet_out"))
        self.images_per_prompt = config.getoption("gauntlet_images_per_prompt")
        self._results: dict[str, Any] | None = None

    def result(self, rule_name: str) -> Any:
        if self._results is None:
            from bench.gates import gate
            from bench.runner import run

            suites = list(dict.fromkeys(r.suite for r in self.spec.rules))
            outcome = run(self.candidate, suites, self.out, self.images_per_prompt)
            report = gate(outcome.run_dir, self.spec, self.baseline)
            self._results = {r.rule: r for r in report.results}
        return self._results[rule_name]


class GateItem(pytest.Item):
    def __init__(self, *, rule: Any, gate_session: _GateSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule, self.gate_session = rule, gate_session

    def runtest(self) -> None:
        result = self.gate_session.result(self.rule.name)
        if result.decision != "pass":
            raise GateFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailure):
            r = excinfo.value.result
            value = "none" if r.value is None else f"{r.value:.4f}"
            ci = "" if r.ci is None else f", interval [{r.ci[0]:.4f}, {r.ci[1]:.4f}]"
            base = "" if r.baseline is None else f", baseline {r.baseline:.4f}"
            th = ", ".join(f"{k} {v}" for k, v in r.threshold.items())
            return (f"{r.rule}: {r.decision.upper()}: value {value}{ci}{base}, n={r.n}; threshold {th}\n"
                    f"  {r.reason}")
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"gate rule {self.name}"


class GateRulesFile(pytest.File):
    def __init__(self, *, gate_session: _GateSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate_session = gate_session

    def collect(self) -> list[GateItem]:
        return [GateItem.from_parent(self, name=rule.name, rule=rule, gate_session=self.gate_session)
                for rule in self.gate_session.spec.rules]


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to gate items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("gauntlet_rules"):
        return
    if not config.getoption("gauntlet_candidate"):
        raise pytest.UsageError("--gauntlet-rules needs --gauntlet-candidate SPEC")
    try:
        gs = _GateSession(config)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    rules_file = GateRulesFile.from_parent(session, path=gs.rules_path.resolve(), gate_session=gs)
    items.extend(rules_file.collect())


@pytest.fixture
def gauntlet_gate(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``gauntlet_gate(candidate, rules_file, baseline=None, images_per_prompt=4, out=None)``
    runs the candidate through the rules' suites and returns the gate report."""

    def _gate(candidate: str, rules: str | Path, baseline: str | Path | None = None, images_per_prompt: int = 4,
              out: str | Path | None = None) -> Any:
        from bench.gates import gate, load_rules
        from bench.runner import run

        spec = load_rules(rules)
        suites = list(dict.fromkeys(r.suite for r in spec.rules))
        outcome = run(candidate, suites, out or tmp_path_factory.mktemp("gauntlet"), images_per_prompt)
        return gate(outcome.run_dir, spec, baseline)

    return _gate
