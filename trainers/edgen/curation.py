"""One director round's curation (steps 1-4 of :mod:`trainers.edgen.trainer`), and the uncurated baseline's."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.candidates import Candidate
from bench.types import GenerationFailure, Prompt
from trainers.edgen.director import Director, make_director
from trainers.edgen.options import Options, image_seeds
from trainers.edgen.state import Entry, ImageCache, State, image_key, load_image, prompt_id
from trainers.edgen.writer import EdgenWriter
from trainers.loop import RoundContext
from trainers.sampling import stable_seed


def sample_prompts(state: State, opts: Options, index: int) -> list[Entry]:
    n = len(state.entries)
    if n <= opts.sample_all_below:
        return list(state.entries)
    rng = np.random.default_rng(stable_seed("edgen-sample", opts.seed, index))
    pick = rng.choice(n, max(1, round(opts.sample_frac * n)), replace=False)
    return [state.entries[i] for i in sorted(pick)]


def compare(director: Director, prompt: str, x: Any, y: Any, flip: bool, tie_to: str | None) -> str | None:  # noqa: ANN401
    """"x", "y" or None: ``x`` and ``y`` shown as (A)/(B), swapped when ``flip``; ``tie_to`` = "x" | "y" | None."""
    label = {"x": "B" if flip else "A", "y": "A" if flip else "B"}
    a, b = (y, x) if flip else (x, y)
    choice = director.prefer(prompt, a, b, tie=label[tie_to] if tie_to else None)
    return None if choice is None else ("x" if choice == label["x"] else "y")


def _flip(opts: Options, index: int, prompt: str, pair: str) -> bool:
    return stable_seed("edgen-ab", opts.seed, index, prompt, pair) % 2 == 1


def render_base(base: Candidate, prompts: list[str], opts: Options) -> list[Any]:
    reqs = [(Prompt(prompt_id(p), p, "edgen"), image_seeds(opts, p)[0]) for p in prompts]
    out: list[Any] = []
    for i in range(0, len(reqs), max(1, base.batch_size)):
        out += base.generate(reqs[i:i + max(1, base.batch_size)])
    return [None if isinstance(im, GenerationFailure) else im for im in out]


def curate(ctx: RoundContext, opts: Options, state: State, cache: ImageCache, advanced: dict[str, Candidate],
           base: Candidate, writer: EdgenWriter) -> dict[str, Any]:
    """Director mode, steps 1-4: judge the sample, then delete, expand and mutate."""
    director = make_director(opts.director, retries=opts.retries, seed=opts.seed,
                             **({"device": opts.device, "max_new_tokens": opts.vlm_max_new_tokens,
                                 "temperature": opts.vlm_temperature, "layout": opts.vlm_layout}
                                if opts.director.startswith("vlm:") else {}))
    sampled = sample_prompts(state, opts, ctx.index)
    texts = [e.prompt for e in sampled]
    base_images = render_base(base, texts, opts)
    adv_paths = {s: cache.get(c, [(p, image_seeds(opts, p)[0]) for p in texts]) for s, c in advanced.items()}
    tie_to = {"base": "x", "advanced": "y", "coin": None}[opts.tie]
    counts: Counter = Counter()
    winners: dict[str, str] = {}
    deleted: set[str] = set()
    new: list[Entry] = []
    avoid = set(state.prompts)
    for i, entry in enumerate(sampled):
        p = entry.prompt
        imgs = {s: load_image(paths[i]) for s, paths in adv_paths.items() if paths[i] is not None}
        if not imgs:
            deleted.add(p)
            counts["unrenderable"] += 1
            continue
        champion = next(s for s in opts.advanced if s in imgs)
        for challenger in [s for s in opts.advanced if s in imgs and s != champion]:
            if compare(director, p, imgs[champion], imgs[challenger], _flip(opts, ctx.index, p, challenger),
                       "x") == "y":
                champion = challenger
        winners[p] = champion
        counts[f"wins:{champion}"] += 1
        if base_images[i] is None:
            counts["base_failures"] += 1  # nothing to compare: the prompt stays as it is
            continue
        verdict = compare(director, p, base_images[i], imgs[champion], _flip(opts, ctx.index, p, "base"), tie_to)
        counts["compared"] += 1
        entry.judged = True
        if verdict is None:
            counts["undecided"] += 1
        elif verdict == "y":
            counts["advanced_better"] += 1
            entry.model = champion
            seed = stable_seed("edgen-expand", opts.seed, ctx.index, p)
            for q in writer.expand(p, opts.expand_k, seed, avoid):
                avoid.add(q)
                new.append(Entry(q, champion, "expand", ctx.index, p, False))
                counts["expanded"] += 1
        else:
            counts["base_better"] += 1
            deleted.add(p)
            draw = stable_seed("edgen-mutate", opts.seed, ctx.index, p) / 2**63
            if draw < opts.mutate_p:
                q = writer.mutate(p, stable_seed("edgen-mutation", opts.seed, ctx.index, p), avoid)
                if q is not None:
                    avoid.add(q)
                    new.append(Entry(q, champion, "mutate", ctx.index, p, False))
                    counts["mutated"] += 1
    state.entries = [e for e in state.entries if e.prompt not in deleted] + new
    decided = counts["advanced_better"] + counts["base_better"]
    stats = {k: v for k, v in director.stats.items() if k != "failed_answers"}
    return {"sampled": len(sampled), "compared": counts["compared"], "advanced_better": counts["advanced_better"],
            "base_better": counts["base_better"], "undecided": counts["undecided"],
            "advanced_better_ratio": counts["advanced_better"] / counts["compared"] if counts["compared"] else None,
            "advanced_better_of_decided": counts["advanced_better"] / decided if decided else None,
            "expanded": counts["expanded"], "mutated": counts["mutated"], "deleted": len(deleted),
            "unrenderable": counts["unrenderable"], "base_failures": counts["base_failures"],
            "parse_failures": director.stats["parse_failures"],
            "director_attempts": director.stats["attempts"], "director_stats": stats,
            "failed_answers": director.stats.get("failed_answers", []),
            "tournament_wins": {s: counts[f"wins:{s}"] for s in opts.advanced}, "winners": winners}


def reference_budget(opts: Options, index: int) -> int:
    """Advanced images the ``budget_from`` loop had used by the end of round ``index``, times
    ``budget_scale`` (rounded)."""
    path = Path(opts.budget_from) / "edgen" / f"state-{index:03d}.json"
    if not path.exists():
        raise ValueError(f"edgen uncurated: budget_from has no state for round {index} ({path}); "
                         "run the director loop that far first")
    return round(opts.budget_scale * len(json.loads(path.read_text())["paid"]))


def uncurated(ctx: RoundContext, opts: Options, state: State, writer: EdgenWriter) -> dict[str, Any]:
    """The baseline's steps 1-4: random expansions, up to the director loop's budget when given.

    With a budget, the sample is expanded in random order, then the rest of the set, then the
    new prompts themselves, until the round's images reach the director loop's count times
    ``budget_scale`` (the last expansion is cut to fit) or the writer has nothing new."""
    rng = np.random.default_rng(stable_seed("edgen-uncurated", opts.seed, ctx.index))
    sampled = sample_prompts(state, opts, ctx.index)
    paid = set(state.paid)

    def cost(entry: Entry) -> int:
        return sum(image_key(entry.model, entry.prompt, s) not in paid for s in image_seeds(opts, entry.prompt))

    target = reference_budget(opts, ctx.index) if opts.budget_from else None
    left = None if target is None else target - len(paid) - sum(cost(e) for e in state.entries)
    queue = [sampled[i] for i in rng.permutation(len(sampled))]
    if left is not None:
        in_sample = {e.prompt for e in sampled}
        rest = [e for e in state.entries if e.prompt not in in_sample]
        queue += [rest[i] for i in rng.permutation(len(rest))]
    avoid, new = set(state.prompts), []
    for entry in queue:  # grows with the new prompts while a budget is left
        if left is not None and left <= 0:
            break
        if left is None and rng.random() >= opts.expand_p:
            continue
        model = opts.advanced[int(rng.integers(len(opts.advanced)))]
        seed = stable_seed("edgen-expand", opts.seed, ctx.index, entry.prompt)
        for q in writer.expand(entry.prompt, opts.expand_k, seed, avoid):
            e = Entry(q, model, "expand", ctx.index, entry.prompt, False)
            if left is not None:
                if left <= 0:
                    break
                left -= cost(e)
                queue.append(e)
            avoid.add(q)
            new.append(e)
    state.entries += new
    return {"sampled": len(sampled), "expanded": len(new), "mutated": 0, "deleted": 0, "advanced_better_ratio": None,
            "budget_target": target,
            "budget_shortfall": max(left, 0) if left is not None else None, "parse_failures": 0}
