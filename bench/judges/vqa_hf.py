"""Real VQA judges through transformers: BLIP VQA and LLaVA-1.5.

Both implement :class:`bench.judges.vqa.VQAModel`: every (image, question) pair of a call is
one stream, answered in batches with greedy decoding, and each answer is stripped and
lower-cased. BLIP answers the bare question (TIFA shows choices only to BLIP-2); LLaVA is an
instruction-following VLM, so multiple-choice questions show their choices in TIFA's BLIP-2
wording. Models load from a hub id or a local folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from bench.device import resolve_device
from bench.judges.vqa import Question, VQAModel, flatten, unflatten


def instruction_prompt(question: Question) -> str:
    """The instruction an instruction-following VLM gets for one question.

    With choices it is TIFA's BLIP-2 multiple-choice prompt; without, LLaVA-1.5's short-answer
    instruction (the one its VQAv2 evaluation uses), so yes/no questions get one-word answers.
    """
    if question.choices:
        return (f"Answer the multiple-choice question. Question: {question.text} "
                f"Choices: {', '.join(question.choices)} Answer:")
    return f"{question.text}\nAnswer the question using a single word or phrase."


class _HFVQA:
    """Shared plumbing: lazy loading, batching over the flattened pairs, answer clean-up."""

    DEFAULT = ""
    family = ""

    def __init__(self, model: str, device: str = "auto", batch: int = 16, max_new_tokens: int = 10) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.device_name, self.batch, self.max_new_tokens = model, device, batch, max_new_tokens
        self._model: Any = None
        self._processor: Any = None

    @property
    def judge_id(self) -> str:
        return f"{self.family}:{self.model}"

    def _load(self) -> None:
        raise NotImplementedError

    def _batches(self, questions: list[Question]) -> list[list[int]]:
        """Indices of the pairs that go through ``generate`` together: consecutive chunks by default."""
        return [list(range(i, min(i + self.batch, len(questions)))) for i in range(0, len(questions), self.batch)]

    def _generate(self, images: list[Image.Image], questions: list[Question]) -> list[str]:
        raise NotImplementedError

    def answer(self, images: Sequence[Image.Image], questions: Sequence[Sequence[Question]]) -> list[list[str]]:
        """Free-form answers, ``out[i][j]`` for ``questions[i][j]`` about ``images[i]``."""
        flat_images, flat_questions, counts = flatten(images, questions)
        if not flat_questions:
            return unflatten([], counts)
        if self._model is None:
            self._load()
        answers = [""] * len(flat_questions)
        for idx in self._batches(flat_questions):
            outs = self._generate([flat_images[i].convert("RGB") for i in idx], [flat_questions[i] for i in idx])
            for i, a in zip(idx, outs, strict=True):
                answers[i] = a.strip().lower()
        return unflatten(answers, counts)


class BlipVQA(_HFVQA):
    """BLIP VQA (``BlipForQuestionAnswering``), TIFA's and DSG's default free-form answerer.

    BLIP's ``generate`` lets the answer decoder attend to the question's padding (its mask there
    is all ones, as in the reference code), so a padded batch answers differently from one pair
    at a time. Batches therefore hold questions of one token length only: answers equal the
    unbatched reference's.
    """

    DEFAULT = "Salesforce/blip-vqa-base"
    family = "blip-vqa"

    def __init__(self, model: str = DEFAULT, device: str = "auto", batch: int = 16, max_new_tokens: int = 10) -> None:
        super().__init__(model, device, batch, max_new_tokens)

    def _load(self) -> None:
        from transformers import AutoProcessor, BlipForQuestionAnswering

        try:
            self._processor = AutoProcessor.from_pretrained(self.model)
            model = BlipForQuestionAnswering.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load BLIP VQA model {self.model!r}: {e}") from e
        self.device = resolve_device(self.device_name)
        self._model = model.eval().to(self.device)

    def _batches(self, questions: list[Question]) -> list[list[int]]:
        """Chunks of at most ``batch`` pairs whose questions tokenize to the same length (no padding)."""
        lengths = [len(ids) for ids in self._processor.tokenizer([q.text for q in questions]).input_ids]
        order = sorted(range(len(questions)), key=lambda i: (lengths[i], i))
        out: list[list[int]] = []
        for i in order:
            if out and len(out[-1]) < self.batch and lengths[out[-1][0]] == lengths[i]:
                out[-1].append(i)
            else:
                out.append([i])
        return out

    def _generate(self, images: list[Image.Image], questions: list[Question]) -> list[str]:
        import torch

        inputs = self._processor(images=images, text=[q.text for q in questions], return_tensors="pt",
                                 padding=True).to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self._processor.batch_decode(out, skip_special_tokens=True)


class LlavaVQA(_HFVQA):
    """LLaVA-1.5 (``LlavaForConditionalGeneration``) answering through its chat prompt.

    The prompt is the processor's chat template applied to one user turn (image, then
    :func:`instruction_prompt`), or LLaVA-1.5's ``USER: <image>\\n... ASSISTANT:`` when the
    processor has no template. Prompts are left-padded and only the new tokens are decoded.
    ``dtype="auto"`` is float16 on CUDA and float32 on CPU.
    """

    DEFAULT = "llava-hf/llava-1.5-7b-hf"
    family = "llava"

    def __init__(self, model: str = DEFAULT, device: str = "auto", batch: int = 16, max_new_tokens: int = 10,
                 dtype: str = "auto") -> None:
        super().__init__(model, device, batch, max_new_tokens)
        self.dtype_name = dtype

    def _load(self) -> None:
        import torch
        from transformers import LlavaForConditionalGeneration

        self.device = resolve_device(self.device_name)
        if self.dtype_name == "auto":
            dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, self.dtype_name)
        if self._processor is None:
            self._load_processor()
        try:
            model = LlavaForConditionalGeneration.from_pretrained(self.model, dtype=dtype)
        except OSError as e:
            raise ValueError(f"cannot load LLaVA model {self.model!r}: {e}") from e
        self._model = model.eval().to(self.device)

    def _load_processor(self) -> None:
        from transformers import AutoProcessor

        try:
            self._processor = AutoProcessor.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load LLaVA processor {self.model!r}: {e}") from e
        tok = self._processor.tokenizer
        tok.padding_side = "left"  # decoder-only: the new tokens must follow every prompt directly
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token

    def prompt(self, question: Question) -> str:
        """The full text prompt for one question, with the image placeholder (loads only the processor)."""
        if self._processor is None:
            self._load_processor()
        text = instruction_prompt(question)
        if getattr(self._processor, "chat_template", None):
            turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            return self._processor.apply_chat_template(turn, add_generation_prompt=True)
        return f"USER: {self._processor.image_token}\n{text} ASSISTANT:"

    def _generate(self, images: list[Image.Image], questions: list[Question]) -> list[str]:
        import torch

        inputs = self._processor(images=images, text=[self.prompt(q) for q in questions], return_tensors="pt",
                                 padding=True).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                       pad_token_id=self._processor.tokenizer.pad_token_id)
        return self._processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


FAMILIES: dict[str, type[_HFVQA]] = {"blip": BlipVQA, "llava": LlavaVQA}


def make_vqa(spec: str, device: str = "auto", batch: int = 16) -> VQAModel:
    """A VQA judge from ``"<family>[:<hub id or local path>]"``; a bare family uses its default model.

    One string names the judge in configs and on the command line, e.g. ``"blip"`` or
    ``"llava:/models/llava-1.5-13b-hf"``.
    """
    family, _, source = spec.partition(":")
    cls = FAMILIES.get(family.strip().lower())
    if cls is None:
        raise ValueError(f"unknown VQA model family in {spec!r}: expected '<family>[:<hub id or path>]' "
                         f"with family one of {', '.join(FAMILIES)}")
    return cls(source.strip() or cls.DEFAULT, device=device, batch=batch)
