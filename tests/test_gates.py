"""Gates: rule decisions, `gauntlet gate` exit codes, the pytest plugin, baselines."""

import json
import xml.etree.ElementTree as ET

import pytest

from bench import baseline
from bench.cli import main
from bench.gates import GateSpec, Rule, gate, load_rules
from bench.runner import run

RULES = """
confidence = 0.95
[[rule]]
suite = "geneval-world"
category = "counting"
min = 0.8
[[rule]]
suite = "geneval-world"
min = 0.7
[[rule]]
suite = "geneval-world"
category = "colors"
min = 0.8
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    specs = {"oracle": "world:oracle", "bad_count": "world:noisy:count=0.5",
             "default": "world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1"}
    return {k: run(v, ["geneval-world"], out, images_per_prompt=2).run_dir for k, v in specs.items()}


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


def test_min_rules_pass_fail_and_straddle(runs, rules_file):
    report = gate(runs["bad_count"], load_rules(rules_file))
    decisions = {r.rule: r.decision for r in report.results}
    assert decisions == {"geneval-world::score::counting": "fail", "geneval-world::score::overall": "pass",
                         "geneval-world::score::colors": "pass"}
    assert report.decision == "fail" and report.exit_code == 1
    # a floor inside the interval is inconclusive, and inconclusive is never pass
    counting = next(r for r in report.results if r.rule.endswith("counting"))
    mid = (counting.ci[0] + counting.ci[1]) / 2
    straddle = gate(runs["bad_count"], GateSpec((Rule("geneval-world", "counting", min=mid),)))
    assert straddle.decision == "inconclusive" and straddle.exit_code == 3
    assert gate(runs["oracle"], load_rules(rules_file)).decision == "pass"


def test_min_n_makes_a_rule_inconclusive(runs):
    report = gate(runs["oracle"], GateSpec((Rule("geneval-world", "single_object", min=0.5, min_n=100),)))
    assert report.decision == "inconclusive" and "n=14 < min_n=100" in report.results[0].reason


def test_max_drop_is_paired_against_the_baseline(runs):
    spec = GateSpec((Rule("geneval-world", max_drop=0.03),))
    worse = gate(runs["bad_count"], spec, runs["oracle"])  # overall drops (0.5 of counting) / 6 = 0.083
    assert worse.decision == "fail", worse.results[0].reason
    assert worse.results[0].baseline == pytest.approx(1.0)
    better = gate(runs["oracle"], spec, runs["bad_count"])
    assert better.decision == "pass", better.results[0].reason
    # on the same prompts and seeds, the paired values are the runs' own scores
    overall = json.loads((runs["bad_count"] / "aggregates.json").read_text())["geneval-world"]["overall"]
    assert worse.results[0].value == pytest.approx(overall) and worse.results[0].value < 0.95
    counting = gate(runs["bad_count"], GateSpec((Rule("geneval-world", "counting", max_drop=0.9),)), runs["oracle"])
    assert counting.decision == "pass" and counting.results[0].n == 42  # 21 prompts x 2 seeds
    assert 1 - counting.results[0].value == pytest.approx(float(counting.results[0].reason.split("drop +")[1][:5]),
                                                          abs=1e-3)
    same = gate(runs["default"], spec, runs["default"])
    assert same.decision == "pass" and "drop +0.000" in same.results[0].reason
    assert gate(runs["default"], spec).decision == "inconclusive"  # no baseline given
    gain = GateSpec((Rule("geneval-world", "counting", max_drop=-0.001),))  # a negative margin asks for a gain
    assert gate(runs["oracle"], gain, runs["bad_count"]).decision == "pass"
    assert gate(runs["default"], gain, runs["default"]).decision == "fail"  # no change is no gain


def test_gate_cli_exit_codes(runs, rules_file, tmp_path, capsys):
    assert main(["gate", "--run", str(runs["oracle"]), "--rules", str(rules_file)]) == 0
    assert main(["gate", "--run", str(runs["bad_count"]), "--rules", str(rules_file), "--format", "json"]) == 1
    straddle = tmp_path / "straddle.toml"
    straddle.write_text('[[rule]]\nsuite = "geneval-world"\ncategory = "counting"\nmin = 0.5\n')
    assert main(["gate", "--run", str(runs["bad_count"]), "--rules", str(straddle)]) == 3
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nsuite = "geneval-world"\nmax = 0.5\n')
    assert main(["gate", "--run", str(runs["oracle"]), "--rules", str(bad)]) == 2
    assert "rule 1: unknown key(s) max" in capsys.readouterr().err


def test_baseline_save_and_check(runs, tmp_path):
    path = baseline.save(runs["default"], tmp_path / "b.json")
    assert baseline.check(runs["default"], path) == []
    problems = baseline.check(runs["bad_count"], path)
    assert any(p.startswith("geneval-world counting: expected") for p in problems)
    assert main(["baseline", "check", "--run", str(runs["bad_count"]), "--baseline", str(path)]) == 1


def test_pytest_plugin_fails_exactly_the_failing_rule(pytester, rules_file, tmp_path):
    junit = tmp_path / "gate.xml"
    args = ["--gauntlet-rules", str(rules_file), "--gauntlet-out", str(tmp_path / "runs"),
            "--gauntlet-images-per-prompt", "2", "-p", "no:cacheprovider"]
    result = pytester.runpytest("--gauntlet-candidate", "world:noisy:count=0.5", f"--junitxml={junit}", *args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*geneval-world::score::counting: FAIL: value 0.4*interval*threshold min 0.8*"])
    # JUnit splits node ids at "::": classname "rules.toml.geneval-world.score", name = the category
    cases = {(c.get("classname").rsplit("toml.", 1)[-1], c.get("name")): c.find("failure") is not None
             for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases == {("geneval-world.score", "counting"): True, ("geneval-world.score", "overall"): False,
                     ("geneval-world.score", "colors"): False}
    result = pytester.runpytest("--gauntlet-candidate", "world:oracle", *args)
    result.assert_outcomes(passed=3)
    result = pytester.runpytest("--gauntlet-candidate", "world:oracle", "-k", "colors", *args)
    result.assert_outcomes(passed=1, deselected=2)


def test_fixture_in_a_users_test_file(pytester, rules_file):
    pytester.makepyfile(f"""
        def test_candidate_passes(gauntlet_gate):
            report = gauntlet_gate("world:oracle", r"{rules_file}", images_per_prompt=1)
            assert report.decision == "pass", [r.reason for r in report.results]
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_max_drop_power_at_world_sample_sizes():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gate_power.py"
    spec = importlib.util.spec_from_file_location("gate_power", path)
    gate_power = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gate_power)
    r = gate_power.rates(0.08, images=4, sims=200)
    assert r["false_fail"] <= 0.05  # at most about 1 - confidence
    assert r["catch"] >= 0.9  # a candidate worse by twice the margin is caught


def test_gauntlet_itself_reproduces_its_world_baseline(tmp_path):
    """A deterministic world run must give exactly the committed numbers: any change to the
    world, the judges, the suites' rules or the aggregation shows up here."""
    from pathlib import Path

    expected = Path(__file__).parent / "baselines" / "world-noisy.json"
    spec = json.loads(expected.read_text())
    outcome = run(spec["candidate"], list(spec["suites"]), tmp_path, images_per_prompt=len(spec["seeds"]))
    assert baseline.check(outcome.run_dir, expected) == []
