"""What the harness costs: `gauntlet run` against a bare loop over the same candidate and judge.

Prints, for the world default (geneval-world on a noisy world candidate, 4 images per
prompt), the wall time of:
  bare  - a loop calling candidate.generate and suite.judge batch by batch, means by hand;
  cold  - bench.runner.run into an empty folder (store, images, manifest, intervals, files);
  warm  - the same run again, which must reuse everything.
Goals: cold / bare <= 1.05, warm / cold <= 0.02. Each is the median of --repeats runs,
interleaved so that machine noise hits both alike.

    python benchmarks/overhead.py [--repeats 5] [--images-per-prompt 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.candidates import resolve_candidate
from bench.runner import run
from suites import resolve_suite

CANDIDATE = "world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1"
SUITE = "geneval-world"


def bare_loop(images_per_prompt: int) -> dict[str, float]:
    cand, suite = resolve_candidate(CANDIDATE), resolve_suite(SUITE)
    requests = [(p, s) for p in suite.prompts() for s in range(images_per_prompt)]
    scores: dict[str, list[float]] = {}
    for i in range(0, len(requests), cand.batch_size):
        batch = requests[i:i + cand.batch_size]
        images = cand.generate(batch)
        judged = suite.judge([(p, s, im) for (p, s), im in zip(batch, images, strict=True)])
        for (p, _), (score, _) in zip(batch, judged, strict=True):
            scores.setdefault(p.category, []).append(score)
    return {k: sum(v) / len(v) for k, v in scores.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--images-per-prompt", type=int, default=4)
    args = ap.parse_args()
    bare_loop(1)  # warm imports and caches for both sides
    run(CANDIDATE, [SUITE], Path(tempfile.mkdtemp()), images_per_prompt=1)
    times: dict[str, list[float]] = {"bare": [], "cold": [], "warm": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        bare = bare_loop(args.images_per_prompt)
        times["bare"].append(time.perf_counter() - t)
        out = Path(tempfile.mkdtemp())
        t = time.perf_counter()
        cold = run(CANDIDATE, [SUITE], out, images_per_prompt=args.images_per_prompt)
        times["cold"].append(time.perf_counter() - t)
        t = time.perf_counter()
        warm = run(CANDIDATE, [SUITE], out, images_per_prompt=args.images_per_prompt)
        times["warm"].append(time.perf_counter() - t)
        assert warm.counters.generated == warm.counters.judged == 0
        got = {k: e.score for k, e in cold.results[SUITE].categories.items()}
        assert got == bare, (got, bare)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = cold.results[SUITE].n
    print(f"workload: {CANDIDATE} x {SUITE}, {n} images, median of {args.repeats}")
    for k in ("bare", "cold", "warm"):
        print(f"  {k:<5} {med[k]:7.3f} s   ({1000 * med[k] / n:.2f} ms/image)")
    print(f"cold / bare = {med['cold'] / med['bare']:.3f}   (goal <= 1.05)")
    print(f"warm / cold = {med['warm'] / med['cold']:.3f}   (goal <= 0.02)")


if __name__ == "__main__":
    main()
