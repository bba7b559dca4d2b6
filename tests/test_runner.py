"""The store and runner: reuse, resume after SIGKILL, partial runs, manifest."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.candidates.world import WorldCandidate
from bench.runner import limit_prompts, run, run_dir_name
from suites import resolve_suite


def test_second_identical_run_does_no_work(tmp_path):
    first = run("world:oracle", ["geneval-world"], tmp_path, images_per_prompt=2, limit=5)
    assert first.counters.generated == first.counters.judged == 6 * 5 * 2  # 5 prompts in each of 6 tasks
    second = run("world:oracle", ["geneval-world"], tmp_path, images_per_prompt=2, limit=5)
    assert second.counters.generated == 0 and second.counters.judged == 0
    assert second.counters.reused_judgments == first.counters.judged
    assert second.results["geneval-world"].to_json() == first.results["geneval-world"].to_json()


def test_more_seeds_reuse_the_finished_ones(tmp_path):
    run("world:oracle", ["geneval-world"], tmp_path, images_per_prompt=1, limit=2)
    more = run("world:oracle", ["geneval-world"], tmp_path, images_per_prompt=3, limit=2)
    assert more.counters.reused_judgments == 12 and more.counters.judged == 24


def test_manifest_records_the_run(tmp_path):
    outcome = run("world:noisy:count=0.5", ["geneval-world"], tmp_path, images_per_prompt=1, limit=1)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and not manifest["partial"]
    spec = manifest["run_spec"]
    assert spec["candidate"] == "world:noisy:count=0.5" and spec["seeds"] == [0]
    assert spec["suites"][0]["name"] == "geneval-world" and spec["suites"][0]["judge_id"].startswith("world-detector")
    assert "numpy" in manifest["packages"] and len(manifest["config_hash"]) == 64
    rows = [json.loads(line) for line in (outcome.run_dir / "geneval-world" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and set(rows[0]) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    assert all(Path(r["filename"]).is_file() for r in rows)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_judging_then_resume_gives_identical_results(tmp_path):
    args = ["run", "--candidate", "world:noisy:count=0.3,color=0.2", "--images-per-prompt", "6", "--quiet",
            "--format", "json"]
    clean = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(tmp_path / "clean")],
                           capture_output=True, text=True, check=True)
    total = 319 * 6
    killed_out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *args, "--out", str(killed_out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = killed_out / run_dir_name("world:noisy:count=0.3,color=0.2") / "store.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and _count(db) < total // 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _count(db)
    assert 0 < done_before < total, "the run was not killed mid-judging"
    resumed = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(killed_out)],
                             capture_output=True, text=True, check=True)
    assert json.loads(resumed.stdout) == json.loads(clean.stdout)
    manifest = json.loads((db.parent / "manifest.json").read_text())
    assert manifest["counters"]["reused_judgments"] >= done_before
    assert manifest["counters"]["reused_judgments"] + manifest["counters"]["judged"] == total


def _geneval_layout(folder: Path, prompts, seeds):
    cand = WorldCandidate("world:oracle")
    for index, p in enumerate(prompts):
        d = folder / f"{index:05d}"
        (d / "samples").mkdir(parents=True)
        (d / "metadata.jsonl").write_text(json.dumps(p.meta) + "\n")
        for seed, im in zip(seeds, cand.generate([(p, s) for s in seeds]), strict=True):
            im.save(d / "samples" / f"{seed:05d}.png")


def test_image_folder_with_corrupt_missing_and_grayscale_files(tmp_path):
    prompts = limit_prompts(resolve_suite("geneval-world").prompts(), 1)  # one per task, colors is index 3
    folder = tmp_path / "imgs"
    _geneval_layout(folder, prompts, [0, 1])
    (folder / "00000" / "samples" / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (folder / "00001" / "samples" / "00000.png").unlink()
    gray = folder / "00003" / "samples" / "00000.png"
    Image.open(gray).convert("L").save(gray)
    outcome = run(f"images:{folder}", ["geneval-world"], tmp_path / "runs", images_per_prompt=2, limit=1)
    reasons = [f["reason"] for f in outcome.failures]
    assert len(reasons) == 2
    assert any("unreadable image" in r and "00000/samples/00001.png" in r for r in reasons)
    assert any("missing image" in r and "00001/samples/00000.png" in r for r in reasons)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["partial"] is True and manifest["status"] == "partial" and len(manifest["failures"]) == 2
    result = outcome.results["geneval-world"]
    assert result.n == 10  # 12 requested, 2 failed; the grayscale one is scored
    assert result.categories["colors"].score == 0.5  # the grey picture cannot show its colour
    assert result.categories["single_object"].n == 1 and result.categories["position"].score == 1.0


def test_flat_image_folder_layout(tmp_path):
    prompts = limit_prompts(resolve_suite("geneval-world").prompts(), 2)
    cand = WorldCandidate("world:oracle")
    folder = tmp_path / "flat"
    folder.mkdir()
    for p in prompts:
        for seed in (0, 1):
            cand.generate([(p, seed)])[0].save(folder / f"{p.id}_{seed}.png")
    outcome = run(f"images:{folder}", ["geneval-world"], tmp_path / "runs", images_per_prompt=2, limit=2)
    assert not outcome.failures and outcome.results["geneval-world"].categories["single_object"].score == 1.0
    same = np.asarray(Image.open(folder / f"{prompts[0].id}_0.png"))
    assert np.array_equal(same, np.asarray(cand.generate([(prompts[0], 0)])[0]))


def test_own_judgments_keep_only_the_runs_own_images(tmp_path):
    from bench.store import Store, own_judgments, sample_key
    from bench.types import Judgment

    store = Store(tmp_path)
    old, new = sample_key("diffusers:m", "aaa"), sample_key("diffusers:m", "bbb")
    store.add_samples(old, [("a red circle", 0, "h_old")])
    store.add_samples(new, [("a red circle", 0, "h_new")])
    store.add_judgments("s", "1", "j", [Judgment("p1", 0, "h_old", "colors", 0.0, {}),
                                        Judgment("p1", 0, "h_new", "colors", 1.0, {"ok": True})])
    store.close()
    db = tmp_path / "store.sqlite"
    mine = own_judgments(db, {"candidate": "diffusers:m", "weights_id": "bbb"}, "s", "1", "j")
    assert [(j.image_hash, j.score, j.prompt_text) for j in mine] == [("h_new", 1.0, "a red circle")]
    # a run whose images were never keyed (an older store) sees every judgment
    legacy = own_judgments(db, {"candidate": "folder:x"}, "s", "1", "j")
    assert sorted(j.image_hash for j in legacy) == ["h_new", "h_old"]
