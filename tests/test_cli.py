"""The command line: JSON schema on stdout, progress on stderr, listings, clear errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench.cli import main


def test_json_output_schema(tmp_path, capsys):
    code = main(["run", "--candidate", "world:oracle", "--candidate", "world:noisy:color=1", "--limit", "2",
                 "--images-per-prompt", "2", "--out", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["world:oracle", "world:noisy:color=1"]
    oracle = data["world:oracle"]["geneval-world"]
    assert oracle["overall"] == 1.0 and oracle["ci"] == [1.0, 1.0] and oracle["n"] == 24
    assert set(oracle["categories"]["counting"]) == {"score", "ci", "n"}
    assert data["world:noisy:color=1"]["geneval-world"]["categories"]["colors"]["score"] == 0.0
    assert "judge" in err and "generate" in err  # progress goes to stderr


def test_table_output(tmp_path, capsys):
    assert main(["run", "--candidate", "world:oracle", "--limit", "1", "--images-per-prompt", "1",
                 "--out", str(tmp_path), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "geneval-world" in out and "world:oracle" in out and "1.000" in out and err == ""
    assert "found/asked" in out  # the column the suite asks the report to show


def test_listings(capsys):
    assert main(["suites"]) == 0
    assert "geneval " in capsys.readouterr().out
    assert main(["candidates"]) == 0
    out = capsys.readouterr().out
    assert "world:oracle" in out and "images:" in out and "diffusers:" in out


def test_bad_specs_name_the_wrong_thing(tmp_path, capsys):
    assert main(["run", "--candidate", "wrold:oracle", "--out", str(tmp_path)]) == 2
    assert "unknown candidate 'wrold:oracle'" in capsys.readouterr().err
    assert main(["run", "--candidate", "world:noisy:count=lots", "--out", str(tmp_path)]) == 2
    assert "count=lots" in capsys.readouterr().err
    assert main(["run", "--suite", "genevl", "--out", str(tmp_path)]) == 2
    assert "unknown suite 'genevl'" in capsys.readouterr().err
    assert main(["run", "--candidate", f"images:{tmp_path}/nope", "--out", str(tmp_path)]) == 2
    assert "nope does not exist" in capsys.readouterr().err


def test_console_script_is_installed(tmp_path):
    exe = shutil.which("gauntlet", path=str(Path(sys.executable).parent))
    assert exe, "the gauntlet console script is not installed beside the interpreter"
    res = subprocess.run([exe, "suites"], capture_output=True, text=True, check=True)
    assert "geneval-world" in res.stdout


def test_unscorable_images_are_named_on_stderr(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "00000_0.png").write_bytes(b"not a png")
    code = main(["run", "--candidate", f"images:{folder}", "--limit", "1", "--images-per-prompt", "1",
                 "--out", str(tmp_path / "runs"), "--quiet", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "could not be scored" in err and "00000_0.png" in err and "missing image" in err
    data = json.loads(out)[f"images:{folder}"]["geneval-world"]
    assert data["n"] == 0 and data["overall"] is None  # nothing scored: no number, valid JSON


def test_run_threads_option(tmp_path, monkeypatch, capsys):
    """`gauntlet run --threads N` sets torch's CPU threads before anything is generated; 0 is an error."""
    import torch

    import bench.runner

    seen = []
    real_run = bench.runner.run

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_run(*args, **kwargs)

    monkeypatch.setattr(bench.runner, "run", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that 1 is a change wherever the test runs
    try:
        assert main(["run", "--candidate", "world:oracle", "--limit", "1", "--images-per-prompt", "1",
                     "--out", str(tmp_path), "--quiet", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    assert main(["run", "--out", str(tmp_path), "--threads", "0"]) == 2
    assert "--threads must be at least 1, not 0" in capsys.readouterr().err and len(seen) == 1
