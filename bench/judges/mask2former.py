"""Real GenEval detector: Mask2Former instance segmentation through transformers.

Post-processing follows the reference detector's (MMDetection's Mask2Former): class scores
are the softmax without the no-object column, the top 100 (query, class) pairs are kept,
masks are upsampled bilinearly to the image and binarised at sigmoid > 0.5, each score is
multiplied by the mean mask probability inside its mask, and boxes come from the masks
(``x2 = max x + 1``). No score threshold here: the suite applies GenEval's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from bench.device import resolve_device
from bench.judges.detection import Detection

MAX_PER_IMAGE = 100


def masks_to_boxes(binary: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` bool -> ``(N, 4)`` boxes ``x1, y1, max x + 1, max y + 1``; zeros for empty masks."""
    boxes = np.zeros((len(binary), 4), np.float32)
    for i, m in enumerate(binary):
        ys, xs = np.nonzero(m)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


class Mask2FormerDetector:
    DEFAULT = "facebook/mask2former-swin-small-coco-instance"

    def __init__(self, source: str = DEFAULT, device: str = "auto", batch_size: int = 8,
                 class_names: Sequence[str] | None = None) -> None:
        self.source, self.device_name, self.batch_size = source, device, batch_size
        self._class_names = list(class_names) if class_names else None
        self._model = self._processor = None

    @property
    def judge_id(self) -> str:
        return f"mask2former:{self.source}"

    def _load(self) -> None:
        import torch  # noqa: F401
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        try:
            self._processor = AutoImageProcessor.from_pretrained(self.source)
            model = Mask2FormerForUniversalSegmentation.from_pretrained(self.source)
        except OSError as e:
            raise ValueError(f"cannot load Mask2Former detector {self.source!r}: {e}") from e
        self.device = resolve_device(self.device_name)
        self._model = model.eval().to(self.device)
        if self._class_names is None:
            self._class_names = self._names_from_config(model.config.id2label)

    @staticmethod
    def _names_from_config(id2label: dict) -> list[str]:
        """COCO models (80 labels) use GenEval's class names by index; others keep their own."""
        labels = [id2label[i] for i in sorted(id2label)]
        if len(labels) == 80:
            from suites.geneval.prompts import OBJECT_NAMES

            return OBJECT_NAMES.read_text().split("\n")[:80]
        return labels

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        if self._model is None:
            self._load()
        out: list[list[Detection]] = []
        for i in range(0, len(images), self.batch_size):
            out += self._detect_batch(list(images[i:i + self.batch_size]))
        return out

    def _detect_batch(self, images: list[Image.Image]) -> list[list[Detection]]:
        import torch
        import torch.nn.functional as F

        inputs = self._processor(images=[im.convert("RGB") for im in images], return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self._model(**inputs)
        probs = outputs.class_queries_logits.float().softmax(-1)[..., :-1]
        n_classes = probs.shape[-1]
        size = inputs["pixel_values"].shape[-2:]
        masks = F.interpolate(outputs.masks_queries_logits.float(), size=size, mode="bilinear", align_corners=False)
        pixel_mask = inputs.get("pixel_mask")
        result = []
        for i, image in enumerate(images):
            m = masks[i]
            if pixel_mask is not None:  # drop the processor's padding before resizing back
                valid = pixel_mask[i].bool()
                m = m[:, : int(valid.any(1).sum()), : int(valid.any(0).sum())]
            m = F.interpolate(m[None], size=(image.height, image.width), mode="bilinear", align_corners=False)[0]
            scores, idx = probs[i].flatten().topk(min(MAX_PER_IMAGE, probs[i].numel()))
            labels, queries = idx % n_classes, idx // n_classes
            prob = m[queries].sigmoid()
            binary = prob > 0.5
            mask_score = (prob * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
            final = (scores * mask_score).cpu().numpy()
            binary_np = binary.cpu().numpy()
            boxes = masks_to_boxes(binary_np)
            result.append([
                Detection(self._class_names[int(lab)], float(s), tuple(map(float, b)), bm)
                for lab, s, b, bm in zip(labels.tolist(), final, boxes, binary_np, strict=True)
            ])
        return result
