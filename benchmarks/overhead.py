"""What the harness costs: `gauntlet run` against a bare loop over the same candidate and judge.

Prints, for geneval-world with 4 images per prompt, the wall time of:
  bare  - a loop calling candidate.generate and suite.judge batch by batch, means by hand;
  cold  - bench.runner.run into an empty folder (store, images, manifest, intervals, files);
  warm  - the same run again, which must reuse everything.
Goals: cold / bare <= 1.05, warm / cold <= 0.02. Each is the median of --repeats runs,
interleaved so that machine noise hits both alike.

Two candidates: the world's noisy candidate (about 1 ms per image to draw and judge, so
every image file written shows), and a diffusion pipeline (a tiny Stable Diffusion built
from configs, 64 px, 10 steps: the cost profile of a real model, scaled down).

    python benchmarks/overhead.py [--repeats 5] [--images-per-prompt 4] [--which world|diffusers|both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.candidates import resolve_candidate
from bench.runner import limit_prompts, run
from suites import resolve_suite

WORLD = "world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1"
SUITE = "geneval-world"


def bare_loop(spec: str, images_per_prompt: int, limit: int | None) -> dict[str, float]:
    cand, suite = resolve_candidate(spec), resolve_suite(SUITE)
    requests = [(p, s) for p in limit_prompts(suite.prompts(), limit) for s in range(images_per_prompt)]
    scores: dict[str, list[float]] = {}
    for i in range(0, len(requests), cand.batch_size):
        batch = requests[i:i + cand.batch_size]
        images = cand.generate(batch)
        judged = suite.judge([(p, s, im) for (p, s), im in zip(batch, images, strict=True)])
        for (p, _), (score, _) in zip(batch, judged, strict=True):
            scores.setdefault(p.category, []).append(score)
    return {k: sum(v) / len(v) for k, v in scores.items()}


def measure(spec: str, repeats: int, images_per_prompt: int, limit: int | None) -> None:
    bare_loop(spec, 1, 1)  # warm imports, model loading and caches for both sides
    run(spec, [SUITE], Path(tempfile.mkdtemp()), images_per_prompt=1, limit=1)
    times: dict[str, list[float]] = {"bare": [], "cold": [], "warm": []}
    for _ in range(repeats):
        t = time.perf_counter()
        bare = bare_loop(spec, images_per_prompt, limit)
        times["bare"].append(time.perf_counter() - t)
        out = Path(tempfile.mkdtemp())
        t = time.perf_counter()
        cold = run(spec, [SUITE], out, images_per_prompt=images_per_prompt, limit=limit)
        times["cold"].append(time.perf_counter() - t)
        t = time.perf_counter()
        warm = run(spec, [SUITE], out, images_per_prompt=images_per_prompt, limit=limit)
        times["warm"].append(time.perf_counter() - t)
        assert warm.counters.generated == warm.counters.judged == 0
        got = {k: e.score for k, e in cold.results[SUITE].categories.items()}
        assert got == bare, (got, bare)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = cold.results[SUITE].n
    print(f"{spec} x {SUITE}: {n} images, median of {repeats}")
    print("  all: " + ", ".join(f"{k} " + " ".join(f"{t:.2f}" for t in v) for k, v in times.items()))
    for k in ("bare", "cold", "warm"):
        print(f"  {k:<5} {med[k]:7.3f} s   ({1000 * med[k] / n:.2f} ms/image)")
    print(f"  cold / bare = {med['cold'] / med['bare']:.3f}   (goal <= 1.05)")
    print(f"  warm / cold = {med['warm'] / med['cold']:.3f}   (goal <= 0.02)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--images-per-prompt", type=int, default=4)
    ap.add_argument("--which", choices=("world", "diffusers", "both"), default="both")
    args = ap.parse_args()
    if args.which in ("world", "both"):
        measure(WORLD, args.repeats, args.images_per_prompt, None)
    if args.which in ("diffusers", "both"):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests/ helpers
        from tests.tiny_models import build_tiny_sd

        pipe = build_tiny_sd(Path(tempfile.mkdtemp()) / "tiny_sd")
        measure(f"diffusers:{pipe}:steps=10,batch=16", args.repeats, args.images_per_prompt, 10)


if __name__ == "__main__":
    main()
