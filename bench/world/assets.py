"""Where the world's shipped models live (package data under ``bench/world``).

``base_model``: the world diffusion model behind ``world:base`` (trainers/world_model/train.py).
``clip_model``: the world CLIP behind ``clipscore-world``, ``pickscore-world`` and ``hps-world``
(trainers/world_model/train_clip.py); in the world these measure image-caption alignment, not
human preference.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_MODEL = HERE / "base_model"
WORLD_CLIP = HERE / "clip_model"


def world_clip() -> str:
    """The shipped world CLIP's folder; a clear error if this install lacks it."""
    if not (WORLD_CLIP / "config.json").exists():
        raise ValueError(f"the world CLIP is not shipped in this install (no {WORLD_CLIP / 'config.json'}); "
                         "train one with python -m trainers.world_model.train_clip")
    return str(WORLD_CLIP)
