"""Where the world's shipped models live (package data under ``bench/world``).

``base_model``: the world diffusion model behind ``world:base`` (trainers/world_model/train.py).
``clip_model``: the world CLIP behind ``clipscore-world``, ``pickscore-world`` and ``hps-world``
(trainers/world_model/train_clip.py); in the world these measure image-caption alignment, not
human preference.
``llm``: the world's small causal LM (English and French captions, long prompts) that the LLM
adapter reads (trainers/llm_adapter/world_lm.py).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_MODEL = HERE / "base_model"
WORLD_CLIP = HERE / "clip_model"
WORLD_LLM = HERE / "llm"


def world_clip() -> str:
    """The shipped world CLIP's folder; a clear error if this install lacks it."""
    if not (WORLD_CLIP / "config.json").exists():
        raise ValueError(f"the world CLIP is not shipped in this install (no {WORLD_CLIP / 'config.json'}); "
                         "train one with python -m trainers.world_model.train_clip")
    return str(WORLD_CLIP)


def world_llm() -> str:
    """The shipped world LM's folder; a clear error if this install lacks it."""
    if not (WORLD_LLM / "config.json").exists():
        raise ValueError(f"the world LM is not shipped in this install (no {WORLD_LLM / 'config.json'}); "
                         "train one with python -m trainers.llm_adapter.world_lm")
    return str(WORLD_LLM)
