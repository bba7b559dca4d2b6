"""The HPS v2 benchmark: its prompts and its summary rule (tgxs002/HPSv2, ``hpsv2/evaluation.py``).

Prompts: four styles (anime, concept-art, paintings, photo), 800 each, in the hub dataset
``zhwang/HPDv2`` as ``benchmark/<style>.json`` (a JSON list of strings; image ``i`` of a
style is ``{i:05d}.jpg``). Summary (``evaluate_benchmark_all``): per style, the scores in
prompt order are cut into chunks of 80 consecutive prompts, ``[mean(res[i:i+80]) for i in
range(0, 800, 80)]``, and the style score is the mean of the chunk means (their population
std is printed beside it); the published overall is the average over the four styles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.types import Prompt

STYLES = ("anime", "concept-art", "paintings", "photo")
HUB_DATASET = "zhwang/HPDv2"
CHUNK, N_CHUNKS = 80, 10


def chunk_means(values: Sequence[float], chunk: int = CHUNK, n_chunks: int | None = None) -> list[float]:
    """Means of consecutive ``chunk``-sized slices of ``values``.

    ``n_chunks=None`` takes every chunk there is (the last may be shorter): for 721-800
    prompts exactly the reference's ten chunks, and for fewer prompts (a ``limit``ed run) still
    a number. ``n_chunks=10`` is the reference literally, ``range(0, 800, 80)``: prompts past
    800 are ignored and an empty chunk gives NaN.
    """
    stop = len(values) if n_chunks is None else chunk * n_chunks
    return [float(np.mean(values[i:i + chunk])) if len(values[i:i + chunk]) else float("nan")
            for i in range(0, stop, chunk)]


def benchmark_score(per_style: Mapping[str, Sequence[float]], chunk: int = CHUNK, n_chunks: int | None = None
                    ) -> tuple[float, dict[str, tuple[float, float]]]:
    """(average over styles, {style: (mean of chunk means, population std of chunk means)}).

    ``per_style`` holds one value per prompt in benchmark order (a prompt's images averaged first).
    """
    styles: dict[str, tuple[float, float]] = {}
    for style, values in per_style.items():
        if len(values) == 0:
            continue
        means = chunk_means(values, chunk, n_chunks)
        styles[style] = (float(np.mean(means)), float(np.std(means)))
    overall = float(np.mean([s for s, _ in styles.values()])) if styles else float("nan")
    return overall, styles


def fetch_prompt_files() -> Path:
    """The folder holding the four ``<style>.json`` files from the hub dataset (download cache)."""
    from huggingface_hub import hf_hub_download

    try:
        paths = [Path(hf_hub_download(HUB_DATASET, f"benchmark/{s}.json", repo_type="dataset")) for s in STYLES]
    except Exception as e:  # offline, not cached
        raise ValueError(f"HPS v2 benchmark prompts: cannot get {HUB_DATASET} benchmark/<style>.json "
                         f"({type(e).__name__}: {e}); download them and pass prompts=DIR") from None
    return paths[0].parent


def load_prompts(folder: str | Path) -> list[Prompt]:
    """All four styles' prompts, in file order; id ``<style>-<index:05d>`` (index = the reference's image name)."""
    folder = Path(folder)
    out = []
    for style in STYLES:
        path = folder / f"{style}.json"
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"HPS v2 prompts: {path} does not exist (prompts=DIR must hold "
                             f"{', '.join(s + '.json' for s in STYLES)})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"HPS v2 prompts: {path} is not JSON: {e}") from None
        if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
            raise ValueError(f"HPS v2 prompts: {path} must be a JSON list of prompt strings")
        out += [Prompt(f"{style}-{i:05d}", text, style, {"index": i}) for i, text in enumerate(rows)]
    return out
