"""How often the paired ``max_drop`` gate errs, by simulation at geneval-world's sample sizes.

Each simulated pair of runs judges geneval-world's 319 prompts (7 / 21 / 21 / 70 / 100 / 100
per task) with N images each. Every prompt has its own difficulty (the task's rate plus a
normal spread of 0.1), shared by baseline and candidate; each image is an independent
Bernoulli draw. The overall is the mean of the six task means, as GenEval's, and the gate
bootstraps the drop exactly as ``gauntlet gate`` does (``bench.gates``). Printed per margin:

  false fail  - a candidate truly equal to the baseline fails (goal: at most 1 - confidence)
  catch       - a candidate truly worse by twice the margin on every task fails (goal: >= 90%)

    python benchmarks/gate_power.py [--sims 400] [--images-per-prompt 4] [--margins 0.05,0.08,0.1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gates import drop_decision  # noqa: E402
from bench.stats import CONFIDENCE, mean_of_means  # noqa: E402

TASK_PROMPTS = {"single_object": 7, "two_object": 21, "counting": 21, "colors": 70, "position": 100,
                "color_attr": 100}
BASE_RATES = {"single_object": 0.95, "two_object": 0.93, "counting": 0.76, "colors": 0.85, "position": 0.85,
              "color_attr": 0.85}  # about world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1


def simulate_once(rng: np.random.Generator, true_drop: float, images: int, margin: float,
                  confidence: float = CONFIDENCE) -> str:
    groups = {}
    for task, k in TASK_PROMPTS.items():
        p = np.clip(BASE_RATES[task] + rng.normal(0, 0.1, k), 0, 1)
        base = rng.random((k, images)) < p[:, None]
        cand = rng.random((k, images)) < np.clip(p - true_drop, 0, 1)[:, None]
        diffs = (base.astype(float) - cand).ravel()
        groups[task] = (diffs, [f"{task}{i}" for i in np.repeat(np.arange(k), images)])
    _, ci = mean_of_means(groups, confidence, seed=int(rng.integers(2**31)))
    return drop_decision(ci, margin)


def rates(margin: float, images: int = 4, sims: int = 400, seed: int = 0,
          confidence: float = CONFIDENCE) -> dict[str, float]:
    """Share of simulations failed when equal (``false_fail``) and when worse by 2 x margin (``catch``)."""
    rng = np.random.default_rng(seed)
    equal = [simulate_once(rng, 0.0, images, margin, confidence) for _ in range(sims)]
    worse = [simulate_once(rng, 2 * margin, images, margin, confidence) for _ in range(sims)]
    return {"false_fail": equal.count("fail") / sims, "equal_pass": equal.count("pass") / sims,
            "catch": worse.count("fail") / sims}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--images-per-prompt", type=int, default=4)
    ap.add_argument("--margins", default="0.03,0.05,0.08,0.1")
    args = ap.parse_args()
    print(f"geneval-world sizes, {args.images_per_prompt} images per prompt, {args.sims} simulations each, "
          f"confidence {CONFIDENCE}")
    print(f"{'margin':>7} {'false fail':>11} {'equal passes':>13} {'catch (2x margin)':>18}  goals met")
    for m in (float(x) for x in args.margins.split(",")):
        r = rates(m, args.images_per_prompt, args.sims)
        ok = r["false_fail"] <= 1 - CONFIDENCE and r["catch"] >= 0.9
        print(f"{m:7.3f} {r['false_fail']:11.3f} {r['equal_pass']:13.3f} {r['catch']:18.3f}  {'yes' if ok else 'no'}")


if __name__ == "__main__":
    main()
