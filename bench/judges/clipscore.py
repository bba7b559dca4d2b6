"""CLIPScore as torchmetrics computes it (``torchmetrics.multimodal.CLIPScore``, pinned 1.9.0).

Per image, torchmetrics' own update step (``_clip_score_update``, shared by the ``CLIPScore``
metric and the functional ``clip_score``) gives ``100 * cos(image, text)`` of the normalised
CLIP embeddings: no clamping per image. torchmetrics clamps only the **mean**:
``compute() = max(sum / n, 0)``. So this scorer returns the unclamped per-image values and the
clipscore suite applies the clamp to its means.

torchmetrics accepts only hub names containing "openai", "jinaai" or "zer0int"; any other
id or a local path goes in through its callable ``(model, processor)`` hook. transformers 5's
``get_*_features`` return output objects, which torchmetrics cannot normalise, so the model is
a ``CLIPModel`` subclass whose feature methods return the projected embedding tensors.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

from PIL import Image

from bench.device import resolve_device
from bench.judges.image_text import BatchedScorer


@functools.cache
def tensor_features_clip() -> type:
    """A ``CLIPModel`` whose ``get_image_features``/``get_text_features`` return tensors (torchmetrics' contract)."""
    from transformers import CLIPModel

    class TensorFeaturesCLIP(CLIPModel):
        def get_image_features(self, *args: Any, **kwargs: Any):  # noqa: ANN201
            return super().get_image_features(*args, **kwargs).pooler_output

        def get_text_features(self, *args: Any, **kwargs: Any):  # noqa: ANN201
            return super().get_text_features(*args, **kwargs).pooler_output

    return TensorFeaturesCLIP


def image_tensor(image: Image.Image):  # noqa: ANN201  (a uint8 tensor)
    """The ``(3, H, W)`` uint8 tensor torchmetrics expects for one image."""
    import numpy as np
    import torch

    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


class CLIPScoreScorer(BatchedScorer):
    """Per-image ``100 * cos`` through torchmetrics; ``model`` is a hub id or a local CLIPModel folder."""

    DEFAULT = "openai/clip-vit-large-patch14"
    scale = "100 x cosine"
    higher_is_better = True

    def __init__(self, model: str = DEFAULT, device: str = "auto", batch: int = 16) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.device_name, self.batch = model, device, batch
        self._model: Any = None

    @property
    def judge_id(self) -> str:
        return f"clipscore:{self.model}"

    def _loader(self) -> tuple[Any, Any]:
        from transformers import CLIPProcessor

        try:  # what torchmetrics itself builds for an "openai/..." name, with tensor features
            return tensor_features_clip().from_pretrained(self.model).eval(), CLIPProcessor.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load CLIPScore model {self.model!r}: {e}") from e

    def _load(self) -> None:
        from torchmetrics.functional.multimodal.clip_score import _get_clip_model_and_processor

        self.device = resolve_device(self.device_name)
        model, self._processor = _get_clip_model_and_processor(self._loader)
        self._model = model.to(self.device)

    def _score_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        import torch
        from torchmetrics.functional.multimodal.clip_score import _clip_score_update

        pixels = [image_tensor(im).to(self.device) for im in images]
        with torch.inference_mode():  # torchmetrics' functional path keeps gradients otherwise
            with warnings.catch_warnings():  # torchmetrics passes max_length with padding=True
                warnings.filterwarnings("ignore", message="`max_length` is ignored")
                scores, _ = _clip_score_update(pixels, list(prompts), self._model, self._processor)
        return scores.float().cpu().tolist()
