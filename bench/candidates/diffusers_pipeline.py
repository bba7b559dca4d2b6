"""``diffusers:<hub id or path>[:steps=N,guidance=G,batch=B,height=H,width=W,dtype=..,device=..,compile=..]``.

Any DiffusionPipeline. Each image gets its own CPU generator seeded with its seed, so an
image does not depend on which batch it was made in (up to float rounding: pixel values
may differ by 1 between batch sizes, which is also why an out-of-memory back-off, see
:mod:`bench.backoff`, cannot move a score by more than such rounding does).

``dtype``: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16``, ``bf16``.
``device``: ``auto`` (CUDA when there is one: in a multi-process run, the process's own
GPU), or any torch device. ``compile``: ``no`` (default), ``default``, ``reduce-overhead``,
``max-autotune`` (``torch.compile`` modes of the denoiser, UNet or transformer), or
``eager`` (TorchDynamo capture only, no code generation: checks that the model can be
captured). The options are part of the spec, so images made in another precision are
stored apart and never mixed into the same run. A pipeline loaded from a local folder also
has a ``weights_id`` (its weight files' names, sizes and modification times): when the
weights at a path change, the run stores new images instead of reusing the old model's.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from bench.candidates import register_candidate_kind
from bench.device import resolve_device
from bench.spec import reject_unknown, split_options, take
from bench.types import GenerationFailure, Prompt

_KNOWN = "steps, guidance, batch, height, width, dtype, device, compile"
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.json", "*.txt")
DTYPES = ("auto", "fp32", "fp16", "bf16")
COMPILE = ("no", "default", "reduce-overhead", "max-autotune", "eager")


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
        self.compile = take(options, "compile", str, "no", spec)
        reject_unknown(options, spec, _KNOWN)
        self.weights_id = weights_id(source)
        for key, value, allowed in (("dtype", self.dtype, DTYPES), ("compile", self.compile, COMPILE)):
            if value not in allowed:
                raise ValueError(f"option {key}={value!r} in {spec!r}: use one of {', '.join(allowed)}")
        self._pipe = None

    @property
    def pipe(self):  # noqa: ANN201  (a DiffusionPipeline; loaded on first use)
        if self._pipe is None:
            import torch
            from diffusers import DiffusionPipeline

            device = resolve_device(self.device)
            dtype = {"auto": torch.float16 if device == "cuda" else torch.float32, "fp32": torch.float32,
                     "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype]
            from diffusers.utils import logging as diffusers_logging

            level = diffusers_logging.get_verbosity()
            diffusers_logging.set_verbosity_error()  # e.g. PixArt's "expected T5EncoderModel" for other encoders
            diffusers_logging.disable_progress_bar()  # gauntlet draws its own bars
            try:
                import_own_components(self.source)
                pipe = DiffusionPipeline.from_pretrained(self.source, dtype=dtype)
            except (OSError, ValueError) as e:
                raise ValueError(f"cannot load diffusers pipeline {self.source!r} for {self.spec!r}: {e}") from e
            finally:
                diffusers_logging.set_verbosity(level)
                diffusers_logging.enable_progress_bar()
            pipe.set_progress_bar_config(disable=True)
            self._pipe = pipe.to(device)
            self._extra = pipeline_call_options(self._pipe)
            compile_denoiser(self._pipe, self.compile)
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
        from diffusers.utils import logging as diffusers_logging

        level = diffusers_logging.get_verbosity()
        # a prompt longer than the text encoder takes is cut, as the suites that test this expect;
        # the pipeline's warning would print every cut prompt in full
        diffusers_logging.set_verbosity_error()
        try:
            with torch.inference_mode():
                images = pipe([p.text for p, _ in requests], generator=gens, **kwargs).images
        finally:
            diffusers_logging.set_verbosity(level)
        return [im.convert("RGB") for im in images]


def compile_denoiser(pipe, mode: str) -> None:  # noqa: ANN001  (any DiffusionPipeline)
    """``torch.compile`` the pipeline's UNet or transformer in place (``mode`` as the ``compile`` option)."""
    if mode == "no":
        return
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if denoiser is None:
        raise ValueError(f"compile={mode}: the pipeline {type(pipe).__name__} has no unet or transformer")
    if mode == "eager":
        denoiser.compile(backend="eager")
    else:
        denoiser.compile(mode=mode)


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


def weights_id(source: str) -> str:
    """A short fingerprint of a local pipeline folder's weight and config files (relative name,
    size, modification time); ``""`` for a hub id. Cheap: no file is read."""
    root = Path(source)
    if not root.is_dir():
        return ""
    files = sorted({f for pattern in _WEIGHT_FILES for f in root.rglob(pattern) if f.is_file()})
    h = hashlib.blake2b(digest_size=8)
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


OWN_PACKAGES = ("bench", "trainers")  # gauntlet's own code, which a trained checkpoint may name


def import_own_components(source: str) -> None:
    """Import the gauntlet modules that a saved pipeline names as component libraries (e.g. the LLM
    adapter's text encoder, ``trainers.llm_adapter.model``): diffusers loads a component only from a
    module already imported. Only gauntlet's own packages are imported, never other named code."""
    index = Path(source) / "model_index.json"
    if not index.is_file():
        return
    for value in json.loads(index.read_text()).values():
        if isinstance(value, list) and value and isinstance(value[0], str) \
                and value[0].split(".")[0] in OWN_PACKAGES:
            importlib.import_module(value[0])


@register_candidate_kind("diffusers", "diffusers:<hub id or path>[:steps=30,guidance=7.5,batch=8,"
                         "dtype=auto|fp32|fp16|bf16,compile=no|default|reduce-overhead|max-autotune]")
def _diffusers(rest: str, spec: str) -> DiffusersCandidate:
    source, options = split_options(rest)
    if not source:
        raise ValueError("diffusers candidate needs a hub id or path: diffusers:<id or path>")
    return DiffusersCandidate(spec, source, options)
