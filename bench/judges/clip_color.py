"""Real GenEval colour judge: zero-shot CLIP (open_clip) over the ten colours.

Each detected object is pasted by its mask onto a grey ``#999`` canvas and cropped to its
box; the class embedding of a colour is the renormalised mean of the normalised embeddings
of three templates, as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from bench.device import resolve_device
from bench.judges.detection import COLORS, Detection

TEMPLATES = ("a photo of a {c} {cls}", "a photo of a {c}-colored {cls}", "a photo of a {c} object")


class OpenClipColorClassifier:
    def __init__(self, arch: str = "ViT-L-14", pretrained: str = "openai", device: str = "auto",
                 bgcolor: str = "#999") -> None:
        self.arch, self.pretrained, self.device_name, self.bgcolor = arch, pretrained, device, bgcolor
        self._model = None
        self._classifiers: dict[str, object] = {}

    @property
    def judge_id(self) -> str:
        local = self.arch.startswith(("local-dir:", "hf-hub:"))
        return f"open_clip:{self.arch}" + ("" if local else f":{self.pretrained}")

    def _load(self) -> None:
        import open_clip

        self.device = resolve_device(self.device_name)
        kwargs = {} if self.arch.startswith(("local-dir:", "hf-hub:")) else {"pretrained": self.pretrained}
        try:
            model, _, self._transform = open_clip.create_model_and_transforms(self.arch, **kwargs)
        except (OSError, RuntimeError, ValueError) as e:
            raise ValueError(f"cannot load open_clip colour model {self.judge_id!r}: {e}") from e
        self._model = model.eval().to(self.device)
        self._tokenizer = open_clip.get_tokenizer(self.arch)

    def _classifier(self, cls: str):  # noqa: ANN202  (a (dim, 10) tensor)
        import torch

        if cls not in self._classifiers:
            with torch.inference_mode():
                cols = []
                for c in COLORS:
                    tokens = self._tokenizer([t.format(c=c, cls=cls) for t in TEMPLATES]).to(self.device)
                    emb = self._model.encode_text(tokens, normalize=True).mean(0)
                    cols.append(emb / emb.norm())
            self._classifiers[cls] = torch.stack(cols, 1)
        return self._classifiers[cls]

    def crops(self, image: Image.Image, detections: Sequence[Detection]) -> list[Image.Image]:
        image = image.convert("RGB")
        blank = Image.new("RGB", image.size, self.bgcolor)
        out = []
        for det in detections:
            im = image if det.mask is None else Image.composite(image, blank, Image.fromarray(det.mask))
            out.append(im.crop(tuple(det.box)))
        return out

    def classify(self, image: Image.Image, detections: Sequence[Detection], classname: str) -> list[str]:
        import torch

        if not detections:
            return []
        if self._model is None:
            self._load()
        batch = torch.stack([self._transform(c) for c in self.crops(image, detections)]).to(self.device)
        with torch.inference_mode():
            feats = self._model.encode_image(batch, normalize=True)
            logits = feats @ self._classifier(classname)
        return [COLORS[i] for i in logits.argmax(1).tolist()]
