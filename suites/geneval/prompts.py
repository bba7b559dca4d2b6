"""GenEval prompt sets: the official 553 rows, and the Shapes-world set in the same schema."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from bench.types import Prompt
from bench.world.grammar import geneval_row
from bench.world.scene import COLORS, RELATIONS, ObjectSpec, Relation, SceneSpec
from bench.world.shapes import SHAPES

DATA = Path(__file__).parent / "data"
OFFICIAL_METADATA = DATA / "evaluation_metadata.jsonl"
OBJECT_NAMES = DATA / "object_names.txt"


def rows_to_prompts(rows: list[dict], source: str) -> list[Prompt]:
    out = []
    for i, row in enumerate(rows):
        missing = {"tag", "prompt", "include"} - set(row)
        if missing:
            raise ValueError(f"{source}: row {i} lacks field(s) {', '.join(sorted(missing))}")
        out.append(Prompt(f"{i:05d}", row["prompt"], row["tag"], row))
    return out


def load_official(path: str | Path = OFFICIAL_METADATA) -> list[Prompt]:
    """The official ``evaluation_metadata.jsonl`` (one JSON row per line); ids are row indices."""
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {n} is not JSON: {e}") from None
    return rows_to_prompts(rows, str(path))


def random_task_spec(task: str, rng: np.random.Generator) -> SceneSpec:
    """A random world scene of the kind a GenEval ``task`` asks for (for training data)."""
    a, b = (str(x) for x in rng.choice(SHAPES, 2, replace=False))
    ca, cb = (str(x) for x in rng.choice(list(COLORS), 2, replace=False))
    if task == "single_object":
        return SceneSpec((ObjectSpec(a),))
    if task == "two_object":
        return SceneSpec((ObjectSpec(a), ObjectSpec(b)))
    if task == "counting":
        return SceneSpec((ObjectSpec(a, None, int(rng.integers(2, 5))),))
    if task == "colors":
        return SceneSpec((ObjectSpec(a, ca),))
    if task == "position":
        return SceneSpec((ObjectSpec(a), ObjectSpec(b)), (Relation(0, RELATIONS[rng.integers(4)], 1),))
    if task == "color_attr":
        return SceneSpec((ObjectSpec(a, ca), ObjectSpec(b, cb)))
    raise ValueError(f"unknown GenEval task {task!r}; tasks: single_object, two_object, counting, colors, "
                     "position, color_attr")


def world_rows(seed: int = 0) -> list[dict]:
    """GenEval-world: every single shape, shape pair and count; sampled colours and relations."""
    rng = np.random.default_rng(seed)
    colors = list(COLORS)
    pairs = list(itertools.combinations(SHAPES, 2))
    rows = [geneval_row("single_object", SceneSpec((ObjectSpec(s),))) for s in SHAPES]
    for a, b in pairs:
        a, b = (a, b) if rng.random() < 0.5 else (b, a)
        rows.append(geneval_row("two_object", SceneSpec((ObjectSpec(a), ObjectSpec(b)))))
    rows += [geneval_row("counting", SceneSpec((ObjectSpec(s, None, n),))) for s in SHAPES for n in (2, 3, 4)]
    rows += [geneval_row("colors", SceneSpec((ObjectSpec(s, c),))) for s in SHAPES for c in colors]
    ordered = [(a, b, r) for a in SHAPES for b in SHAPES if a != b for r in RELATIONS]
    for k in rng.choice(len(ordered), 100, replace=False):
        a, b, r = ordered[k]
        rows.append(geneval_row("position", SceneSpec((ObjectSpec(a), ObjectSpec(b)), (Relation(0, r, 1),))))
    texts = set()
    while len(texts) < 100:
        a, b = pairs[rng.integers(len(pairs))]
        ca, cb = rng.choice(len(colors), 2, replace=False)
        row = geneval_row("color_attr", SceneSpec((ObjectSpec(a, colors[ca]), ObjectSpec(b, colors[cb]))))
        if row["prompt"] not in texts:
            texts.add(row["prompt"])
            rows.append(row)
    return rows


def load_world(seed: int = 0) -> list[Prompt]:
    return rows_to_prompts(world_rows(seed), "geneval-world")
