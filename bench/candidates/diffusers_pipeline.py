"""``diffusers:<hub id or path>[:steps=N,guidance=G,batch=B,height=H,width=W,dtype=..,device=..]``.

Any DiffusionPipeline. Each image gets its own CPU generator seeded with its seed, so an
image does not depend on which batch it was made in.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from PIL import Image

from bench.candidates import register_candidate_kind
from bench.spec import reject_unknown, split_options, take
from bench.types import GenerationFailure, Prompt

_KNOWN = "steps, guidance, batch, height, width, dtype, device"


class DiffusersCandidate:
    def __init__(self, spec: str, source: str, options: dict[str, str]) -> None:
        self.spec, self.source = spec, source
        self.steps = take(options, "steps", int, 30, spec)
        self.guidance = take(options, "guidance", float, 7.5, spec)
        self.batch_size = take(options, "batch", int, 8, spec)
        self.height = take(options, "height", int, None, spec)
        self.width = take(options, "width", int, None, spec)
        self.dtype = take(options, "dtype", str, "auto", spec)
        self.device = take(options, "device", str, "auto", spec)
        reject_unknown(options, spec, _KNOWN)
        self._pipe = None

    @property
    def pipe(self):  # noqa: ANN201  (a DiffusionPipeline; loaded on first use)
        if self._pipe is None:
            import torch
            from diffusers import DiffusionPipeline

            device = self.device if self.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = {"auto": torch.float16 if device == "cuda" else torch.float32, "fp32": torch.float32,
                     "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype]
            try:
                pipe = DiffusionPipeline.from_pretrained(self.source, dtype=dtype)
            except (OSError, ValueError) as e:
                raise ValueError(f"cannot load diffusers pipeline {self.source!r} for {self.spec!r}: {e}") from e
            pipe.set_progress_bar_config(disable=True)
            self._pipe = pipe.to(device)
            self._extra = pipeline_call_options(self._pipe)
        return self._pipe

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        import torch

        pipe = self.pipe
        gens = [torch.Generator("cpu").manual_seed(int(seed)) for _, seed in requests]
        kwargs = {"num_inference_steps": self.steps, "guidance_scale": self.guidance, "output_type": "pil",
                  **self._extra}
        if self.height:
            kwargs["height"] = self.height
        if self.width:
            kwargs["width"] = self.width
        with torch.inference_mode():
            images = pipe([p.text for p, _ in requests], generator=gens, **kwargs).images
        return [im.convert("RGB") for im in images]


def pipeline_call_options(pipe) -> dict:  # noqa: ANN001  (any DiffusionPipeline)
    """Call options that small or custom-tokenizer pipelines need (PixArt-style pipelines).

    Resolution binning snaps sizes to the 1024-px training buckets, which only fit models of
    that size; the text length must not exceed what the tokenizer and text encoder take.
    """
    params = inspect.signature(pipe.__call__).parameters
    extra: dict = {}
    transformer = getattr(pipe, "transformer", None)
    if "use_resolution_binning" in params and transformer is not None:
        native = transformer.config.sample_size * getattr(pipe, "vae_scale_factor", 8)
        extra["use_resolution_binning"] = native >= 256
    if "max_sequence_length" in params and getattr(pipe, "tokenizer", None) is not None:
        extra["max_sequence_length"] = min(params["max_sequence_length"].default, pipe.tokenizer.model_max_length)
    if "clean_caption" in params:
        extra["clean_caption"] = False  # needs bs4 and ftfy; captions are used as given
    return extra


@register_candidate_kind("diffusers", "diffusers:<hub id or path>[:steps=30,guidance=7.5,batch=8]")
def _diffusers(rest: str, spec: str) -> DiffusersCandidate:
    source, options = split_options(rest)
    if not source:
        raise ValueError("diffusers candidate needs a hub id or path: diffusers:<id or path>")
    return DiffusersCandidate(spec, source, options)
