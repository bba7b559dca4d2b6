"""Multi-process runs (2 real processes through accelerate's launcher) and out-of-memory back-off."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.backoff import BatchLimits
from bench.candidates import resolve_candidate
from bench.candidates.world import WorldCandidate
from bench.report import results_json
from bench.runner import run
from bench.sharding import launch
from suites import resolve_suite

torch.set_num_threads(1)

NOISY = "world:noisy:count=0.3,color=0.2,missing=0.1,position=0.2"
SUITE = "geneval-world"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bench.cli", "run", "--quiet", "--format", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _official_rows(run_dir: Path) -> list[dict]:
    """GenEval's results.jsonl with image paths made relative to the run folder."""
    rows = [json.loads(line) for line in (run_dir / SUITE / "results.jsonl").read_text().splitlines()]
    return [{**r, "filename": str(Path(r["filename"]).relative_to(run_dir))} for r in rows]


def test_two_processes_give_the_single_process_results(tmp_path):
    single = run(NOISY, [SUITE], tmp_path / "one", images_per_prompt=3)
    total = 319 * 3
    # start the 2-process run from a partial store (1 of the 3 seeds done), as a resume would
    run(NOISY, [SUITE], tmp_path / "two", images_per_prompt=1)
    done = _cli("--candidate", NOISY, "--images-per-prompt", "3", "--processes", "2", "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == results_json([single])
    one_dir, two_dir = single.run_dir, tmp_path / "two" / single.run_dir.name
    aggregates = json.loads((one_dir / "aggregates.json").read_text())
    assert json.loads((two_dir / "aggregates.json").read_text()) == aggregates
    assert _official_rows(two_dir) == _official_rows(one_dir)  # the same images, judged the same
    manifest = json.loads((two_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["results"] == json.loads(done.stdout)[NOISY]
    procs = manifest["processes"]
    assert [p["rank"] for p in procs] == [0, 1] and len({p["pid"] for p in procs}) == 2
    assert all(p["judged"] > 300 and p["reused_judgments"] > 150 for p in procs)  # both ranks worked
    assert sum(p["judged"] for p in procs) == manifest["counters"]["judged"] == total - 319
    assert manifest["counters"]["reused_judgments"] == 319 and manifest["counters"]["oom_backoffs"] == 0
    assert not list((two_dir / "images").rglob("*.tmp"))  # image writes are atomic renames


def test_bad_input_fails_before_launching(tmp_path):
    bad = _cli("--candidate", "world:nope", "--processes", "2", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown world candidate" in bad.stderr and bad.stdout == ""


def _exit_code_of_rank_1(code: int) -> int:
    from bench.sharding import Processes

    procs = Processes.from_env()
    procs.barrier()
    return code if procs.rank == 1 else 0


def test_a_failing_process_fails_the_launch(capfd):
    assert launch(_exit_code_of_rank_1, (3,), 2) == 3
    assert launch(_exit_code_of_rank_1, (0,), 2) == 0
    assert "the process of rank 1 (of 2) failed" in capfd.readouterr().err


class LimitedJudge:
    """geneval-world whose judge runs out of memory on batches of more than ``k`` images."""

    def __init__(self, k: int) -> None:
        self.inner, self.k, self.sizes = resolve_suite(SUITE), k, []
        self.name, self.version, self.overall_mode = self.inner.name, self.inner.version, self.inner.overall_mode
        self.judge_id = self.inner.judge_id

    def __getattr__(self, attr: str):  # noqa: ANN204  (prompts, aggregate, write_official)
        return getattr(self.inner, attr)

    def judge(self, batch):  # noqa: ANN001, ANN201
        self.sizes.append(len(batch))
        if len(batch) > self.k:
            raise torch.OutOfMemoryError(f"CUDA out of memory: {len(batch)} images")
        return self.inner.judge(batch)


class LimitedCandidate(WorldCandidate):
    """A world candidate that runs out of memory when asked for more than ``k`` images at once."""

    def __init__(self, spec: str, k: int) -> None:
        base = resolve_candidate(spec)
        super().__init__(spec, base.rates, base.size)
        self.k, self.sizes = k, []

    def generate(self, requests):  # noqa: ANN001, ANN201
        self.sizes.append(len(requests))
        if len(requests) > self.k:
            raise torch.OutOfMemoryError(f"CUDA out of memory: {len(requests)} images")
        return super().generate(requests)


def test_judge_out_of_memory_backs_off_to_the_same_results(tmp_path):
    free = run(NOISY, [SUITE], tmp_path / "free", images_per_prompt=2)
    judge = LimitedJudge(k=10)
    limited = run(NOISY, [judge], tmp_path / "limited", images_per_prompt=2)
    assert limited.results[SUITE].to_json() == free.results[SUITE].to_json()
    assert judge.sizes[:4] == [64, 32, 16, 8] and max(judge.sizes[4:]) == 8  # later batches start at 8
    manifest = json.loads((limited.run_dir / "manifest.json").read_text())
    assert [(e["what"], e["from"], e["to"]) for e in manifest["backoffs"]] == [
        (f"judge {SUITE}", 64, 32), (f"judge {SUITE}", 32, 16), (f"judge {SUITE}", 16, 8)]
    assert manifest["counters"]["oom_backoffs"] == 3 and manifest["processes"][0]["batch_limits"] == {
        f"judge {SUITE}": 8}
    free_rows = json.loads((free.run_dir / "aggregates.json").read_text())
    assert json.loads((limited.run_dir / "aggregates.json").read_text()) == free_rows


def test_candidate_out_of_memory_backs_off_to_the_same_results(tmp_path):
    free = run(NOISY, [SUITE], tmp_path / "free", images_per_prompt=2)
    cand = LimitedCandidate(NOISY, k=20)
    limited = run(cand, [SUITE], tmp_path / "limited", images_per_prompt=2)
    assert limited.results[SUITE].to_json() == free.results[SUITE].to_json()
    assert _official_rows(limited.run_dir) == _official_rows(free.run_dir)  # the very same images
    assert cand.sizes[:3] == [64, 32, 16] and max(cand.sizes[3:]) == 16
    manifest = json.loads((limited.run_dir / "manifest.json").read_text())
    backoffs = [(e["what"], e["from"], e["to"]) for e in manifest["backoffs"]]
    assert backoffs == [("generate", 64, 32), ("generate", 32, 16)]
    assert manifest["counters"]["oom_backoffs"] == 2 and manifest["counters"]["generated"] == 638


def test_out_of_memory_at_one_item_and_other_errors_are_raised():
    limits = BatchLimits()

    def always_oom(items):  # noqa: ANN001, ANN202
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        limits.call("judge x", always_oom, list(range(5)))
    assert [(e["from"], e["to"]) for e in limits.events] == [(5, 3), (3, 2), (2, 1)]
    calls = []

    def broken(items):  # noqa: ANN001, ANN202
        calls.append(len(items))
        raise RuntimeError("not a memory problem")

    with pytest.raises(RuntimeError, match="not a memory problem"):
        BatchLimits().call("generate", broken, list(range(8)))
    assert calls == [8]  # no retry for anything but out-of-memory
    odd = BatchLimits({"judge y": 3})
    assert odd.call("judge y", lambda xs: [x * 2 for x in xs], list(range(7))) == [x * 2 for x in range(7)]


def test_diffusers_options_are_checked():
    cand = resolve_candidate("diffusers:some/model:dtype=bf16,compile=max-autotune")
    assert (cand.dtype, cand.compile) == ("bf16", "max-autotune")
    with pytest.raises(ValueError, match="dtype='fp8'.*auto, fp32, fp16, bf16"):
        resolve_candidate("diffusers:some/model:dtype=fp8")
    with pytest.raises(ValueError, match="compile='fast'"):
        resolve_candidate("diffusers:some/model:compile=fast")


def test_diffusers_compile_captures_the_denoiser_and_keeps_the_images(tmp_path):
    from tests.tiny_models import build_tiny_sd

    pipe = build_tiny_sd(tmp_path / "sd")
    requests = [(p, 0) for p in resolve_suite(SUITE).prompts()[:3]]
    plain = resolve_candidate(f"diffusers:{pipe}:steps=2,batch=3").generate(requests)
    compiled = resolve_candidate(f"diffusers:{pipe}:steps=2,batch=3,compile=eager")
    images = compiled.generate(requests)
    assert compiled.pipe.unet._compiled_call_impl is not None  # TorchDynamo captured the UNet
    assert [im.tobytes() for im in images] == [im.tobytes() for im in plain]


def test_under_accelerate_launch(tmp_path):
    """The recipe's launch: `accelerate launch --multi_gpu` starts 2 processes on a CPU-only machine too."""
    single = run(NOISY, [SUITE], tmp_path / "one", images_per_prompt=2, limit=3)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "bench.cli", "run",
         "--candidate", NOISY, "--images-per-prompt", "2", "--limit", "3", "--quiet", "--format", "json",
         "--out", str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == results_json([single])
    manifest = json.loads((tmp_path / "two" / single.run_dir.name / "manifest.json").read_text())
    assert [p["judged"] for p in manifest["processes"]] == [18, 18]
