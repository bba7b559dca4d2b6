"""The gated round loop with the `continue` trainer on a tiny pipeline: resume after SIGKILL, rollback."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bench.gates import GateSpec, Rule
from tests.tiny_models import build_tiny_sd
from trainers.continual import train_round
from trainers.loop import LoopConfig, RoundLoop, load_config


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("loop") / "init")


def write_config(path, init, work_dir, max_drop):
    path.write_text(f"""
init = "{init}"
work_dir = "{work_dir}"
rounds = 2
suites = ["geneval-world"]
images_per_prompt = 2
limit = 3
candidate_options = "steps=4,batch=36"
[gate]
max_drop = {max_drop}
[options]
steps = 3
batch_size = 4
""")
    return path


def recorded(work_dir):
    with sqlite3.connect(work_dir / "loop.sqlite") as con:
        rows = con.execute("SELECT idx, status, parent, checkpoint, data_size, scores, decision, reason "
                           "FROM rounds ORDER BY idx").fetchall()
    return [(i, st, p, c, d, json.loads(s) if s else None, dec, r) for i, st, p, c, d, s, dec, r in rows]


def status_of(db, idx):
    try:
        with sqlite3.connect(db, timeout=0.5) as con:
            row = con.execute("SELECT status FROM rounds WHERE idx=?", (idx,)).fetchone()
            return row[0] if row else None
    except sqlite3.OperationalError:
        return None


def cli(config):
    return [sys.executable, "-m", "bench.cli", "train", "continue", "--config", str(config)]


def test_kill_between_checkpoint_and_gate_then_resume(tiny_sd, tmp_path):
    clean_dir, killed_dir = tmp_path / "clean", tmp_path / "killed"
    clean_cfg = write_config(tmp_path / "clean.toml", tiny_sd, clean_dir, 1.0)  # always promote
    killed_cfg = write_config(tmp_path / "killed.toml", tiny_sd, killed_dir, 1.0)
    subprocess.run(cli(clean_cfg), check=True, capture_output=True)
    proc = subprocess.Popen(cli(killed_cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = killed_dir / "loop.sqlite"
    deadline = time.time() + 300
    while time.time() < deadline and status_of(db, 2) != "trained" and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert status_of(db, 2) == "trained", "not killed between the checkpoint save and the gate"
    assert (killed_dir / "round-002" / "data_manifest.json").exists()
    subprocess.run(cli(killed_cfg), check=True, capture_output=True)
    clean, resumed = recorded(clean_dir), recorded(killed_dir)
    assert len(resumed) == 2 and all(r[1] == "decided" for r in resumed)
    strip = lambda rows, root: [(i, st, p.replace(str(root), ""), c.replace(str(root), ""), d, s, dec, r)  # noqa: E731
                                for i, st, p, c, d, s, dec, r in rows]
    assert strip(resumed, killed_dir) == strip(clean, clean_dir)
    assert resumed[1][2] == str(killed_dir / "round-001")  # round 2 started from the promoted round 1
    manifest = json.loads((killed_dir / "round-001" / "data_manifest.json").read_text())
    assert manifest["data_size"] == 12 and manifest["trainer"] == "continue"


def test_rejected_round_rolls_back(tiny_sd, tmp_path):
    cfg = load_config(write_config(tmp_path / "c.toml", tiny_sd, tmp_path / "w", -1.0))  # must gain 1.0: never
    rounds = RoundLoop(cfg, train_round, log=lambda m: None).run()
    assert [r["decision"] for r in rounds] == ["reject", "reject"]
    assert rounds[1]["parent"] == str(tiny_sd)  # the next round started from the last promoted checkpoint
    assert "max_drop -1.0" in rounds[0]["reason"]


def test_floor_rejects_and_config_errors_are_named(tiny_sd, tmp_path):
    cfg = LoopConfig(init=str(tiny_sd), work_dir=tmp_path / "w", rounds=1, suites=["geneval-world"],
                     images_per_prompt=1, limit=1, candidate_options="steps=2", options={"steps": 1, "batch_size": 2})
    cfg.gate = GateSpec((Rule("geneval-world", min=1.01),))
    rounds = RoundLoop(cfg, train_round, log=lambda m: None).run()
    assert rounds[0]["decision"] == "reject" and "below min 1.01" in rounds[0]["reason"]
    bad = tmp_path / "bad.toml"
    bad.write_text('init = "x"\nwork_dir = "y"\nrounds = 1\nsuites = []\nroundz = 3\n')
    with pytest.raises(ValueError, match="unknown key.*roundz"):
        load_config(bad)


def test_gate_against_the_initial_checkpoint_too(tiny_sd, tmp_path, monkeypatch):
    """With against = ["promoted", "initial"], a round must pass against both; the reason says which failed."""
    import trainers.loop as loop
    from bench.gates import GateReport, RuleResult

    calls = []

    def fake_gate(run_dir, spec, baseline_dir):  # round 2 passes against round 1 but fails against the init
        calls.append(baseline_dir)
        ok = len(calls) != 4
        result = RuleResult("geneval-world::overall::max_drop", "pass" if ok else "fail", -0.05, (-0.1, 0.0), 3,
                            "dropped 0.05")
        return GateReport("pass" if ok else "fail", [result])

    monkeypatch.setattr(loop, "gate", fake_gate)
    path = write_config(tmp_path / "c.toml", tiny_sd, tmp_path / "w", 0.1)
    path.write_text(path.read_text().replace("[gate]\n", '[gate]\nagainst = ["promoted", "initial"]\n'))
    cfg = load_config(path)
    cfg.limit, cfg.candidate_options, cfg.images_per_prompt = 1, "steps=2", 1
    assert cfg.gate_against == ("promoted", "initial")
    rounds = RoundLoop(cfg, train_round, log=lambda m: None).run()
    assert [r["decision"] for r in rounds] == ["promote", "reject"]
    assert rounds[1]["reason"] == "vs initial: geneval-world::overall::max_drop fail: dropped 0.05"
    assert calls[0] == calls[1] == calls[3] != calls[2]  # round 2: against round 1's run, then the init's
    path.write_text(path.read_text().replace('["promoted", "initial"]', '"first"'))
    with pytest.raises(ValueError, match=r"\[gate\] against must be one or both of promoted, initial"):
        load_config(path)


def test_round_gates_apply_to_their_rounds_only(tiny_sd, tmp_path):
    """[[gate.round]] rules judge the rounds they name (here round 2, against round 1), no others."""
    path = write_config(tmp_path / "c.toml", tiny_sd, tmp_path / "w", 1.0)
    path.write_text(path.read_text().replace("[gate]\nmax_drop = 1.0\n", """[gate]
[[gate.round]]
rounds = [2]
against = "promoted"
[[gate.round.rule]]
suite = "geneval-world"
min = 1.01
max_drop = 1.0
"""))
    cfg = load_config(path)
    cfg.limit, cfg.candidate_options, cfg.images_per_prompt = 1, "steps=2", 1
    assert not cfg.gate.rules and cfg.round_gates[0].rounds == (2,) and cfg.round_gates[0].against == ("promoted",)
    rounds = RoundLoop(cfg, train_round, log=lambda m: None).run()
    assert [(r["decision"], r["reason"]) for r in rounds][0] == ("promote", "no gate rules")
    assert rounds[1]["decision"] == "reject" and "below min 1.01" in rounds[1]["reason"]
    assert rounds[1]["parent"] == str(tmp_path / "w" / "round-001")
    path.write_text(path.read_text().replace("rounds = [2]", "rounds = []"))
    with pytest.raises(ValueError, match=r"\[\[gate.round\]\] 1: rounds must be a list of round numbers"):
        load_config(path)


@pytest.mark.parametrize("name, options", [("edgen-world", "trainers.edgen.options"),
                                           ("selma-world", "trainers.selma.trainer"),
                                           ("llm-adapter-world", "trainers.llm_adapter.trainer")])
def test_shipped_configs_parse(name, options):
    """The documented world configs load and their options pass their trainer's checks."""
    import importlib
    from pathlib import Path

    cfg = load_config(Path(__file__).parents[1] / "trainers" / "configs" / f"{name}.toml")
    opts = importlib.import_module(options).Options.from_dict(cfg.options)
    assert cfg.rounds >= 1 and cfg.suites and opts.seed == 0


def test_round_seconds_count_training_once(tiny_sd, tmp_path, monkeypatch):
    """A round's seconds are its training plus its scoring and gate, on a clock that only the two move."""
    import trainers.loop as loop

    now = [1000.0]
    monkeypatch.setattr(loop, "time", type("Clock", (), {"time": staticmethod(lambda: now[0])}))

    def train_100s(ctx):
        manifest = train_round(ctx)
        now[0] += 100
        return manifest

    score = loop.RoundLoop._score

    def score_10s(self, checkpoint):
        now[0] += 10
        return score(self, checkpoint)

    monkeypatch.setattr(loop.RoundLoop, "_score", score_10s)
    cfg = LoopConfig(init=str(tiny_sd), work_dir=tmp_path / "w", rounds=1, suites=["geneval-world"],
                     images_per_prompt=1, limit=1, candidate_options="steps=2", options={"steps": 1, "batch_size": 2})
    RoundLoop(cfg, train_100s, log=lambda m: None).run()
    with sqlite3.connect(cfg.work_dir / "loop.sqlite") as con:
        assert con.execute("SELECT train_seconds, seconds FROM rounds WHERE idx=1").fetchone() == (100.0, 110.0)


def test_train_threads_option(tiny_sd, tmp_path, monkeypatch):
    """`gauntlet train --threads N` sets torch's CPU threads before the rounds run; 0 is an error."""
    import torch

    import trainers
    from bench.cli import main

    seen = []

    def recording(ctx):
        seen.append(torch.get_num_threads())
        return train_round(ctx)

    monkeypatch.setattr(trainers, "resolve_trainer", lambda name: recording)
    cfg = write_config(tmp_path / "c.toml", tiny_sd, tmp_path / "w", 1.0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that 1 is a change wherever the test runs
    try:
        assert main(["train", "continue", "--config", str(cfg), "--rounds", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    assert main(["train", "continue", "--config", str(cfg), "--threads", "0"]) == 2
    assert len(seen) == 1  # refused before any round
