"""The director: which of two images, labelled (A) and (B), better fits a prompt.

Every director implements :class:`Director`. ``prefer`` answers "A", "B" or None (no usable
answer). ``tie`` is the label to give when a director that scores images finds them equally
good; a director that always picks one (a VLM) ignores it.

* :class:`VLMDirector`: a transformers vision-language model (LLaVA-style, or any
  ``AutoModelForImageTextToText`` with a chat template; hub id or folder). By default both
  images are pasted side by side with "(A)" and "(B)" written under them, as the reference
  does for single-image VLMs (``layout="pair"`` shows them as two images instead). The
  generated text is read by :func:`parse_choice` (regular expressions, never ``eval``); an
  unreadable answer is asked again (greedy first, then sampled, seeded) up to ``retries``
  more times. :attr:`stats` counts calls, attempts, parse failures and undecided calls.
* :class:`ScriptedDirector`: canned raw answers through the same parser and retry loop (tests).
* :class:`WorldDirector`: the exact world judges (see :mod:`trainers.edgen.world_judge`).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from PIL import Image, ImageDraw, ImageFont

from bench.device import resolve_device
from trainers.sampling import stable_seed

Choice = Literal["A", "B"]


class Director(Protocol):
    name: str
    stats: dict[str, Any]

    def prefer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, tie: Choice | None = None
               ) -> Choice | None: ...


# -------------------------------------------------------------------------------------------
# the answer parser
# -------------------------------------------------------------------------------------------

_NOUNS = r"image|picture|photo|option|choice|candidate"
_BARE_AFTER = r"(?=\s*(?:$|[.,;:!)>]|is\b|looks\b|seems\b|aligns\b|matches\b|fits\b|better\b|and\b|or\b|&|/))"
_BARE_BEFORE = r"(?:(?<=\band )|(?<=\bor )|(?<=\bnor )|(?<=\bboth )|(?<=\bthan )|(?<=\bis )|(?<=:)|(?<=: ))"
_GOOD = r"better|best|more (?:accurate|aligned|faithful|closely)|closer|superior|preferred|preferable|wins?"
_NEG = re.compile(r"\bnot\b|n't\b|\bless\b|\bworse\b")
_TIE = re.compile(r"\b(?:both|neither|equal(?:ly)?|same|tie|either|none)\b", re.I)


def _canonical(text: str) -> str:
    """``text`` with every way of naming a label rewritten to «A» or «B»."""
    t = " ".join(text.replace("**", "").split())
    t = re.sub(r"[<\[]?\(\s*([ABab])\s*\)[>\]]?", lambda m: f"«{m[1].upper()}»", t)
    t = re.sub(rf"\b(?:{_NOUNS})\s*[:#]?\s*«?([ABab])»?(?![\w])", lambda m: f"«{m[1].upper()}»", t, flags=re.I)
    t = re.sub(rf"\b([AB])\b{_BARE_AFTER}", lambda m: f"«{m[1]}»", t)  # "A.", "A is better", "A and"
    return re.sub(rf"{_BARE_BEFORE}\b([AB])\b", lambda m: f"«{m[1]}»", t)  # "and B", "than B", "is A"


def parse_choice(text: str) -> Choice | None:
    """The label an answer picks, or None when it picks none or both.

    Labels are "(A)", "<(A) is better>", "image A", "option b", or a bare capital letter standing
    alone ("A", "A.", "A is better"; not the article in "A red circle"). An explicit verdict wins
    ("(B) is better", "I prefer image A", "the answer is B", "A is worse" -> B); without one, an
    answer naming exactly one label picks it, unless it says "both", "neither", "equal", "same",
    "tie", "either" or "none". Answers naming both labels without a verdict ("A and B") or
    with verdicts for both, and answers naming neither, give None.
    """
    t = _canonical(text)
    verdicts: set[str] = set()
    for m in re.finditer(rf"«([AB])»([^.;«]*?)\b(?:{_GOOD})\b", t, re.I):
        if not _NEG.search(m[2].lower()):
            verdicts.add(m[1])
    for m in re.finditer(r"«([AB])»([^.;«]*?)\b(?:worse|less)\b", t, re.I):
        if not _NEG.search(m[2].lower()):
            verdicts.add("B" if m[1] == "A" else "A")
    lead = (r"\b(?:prefer|choose|chose|pick|select|answer(?: is)?|choice(?: is)?|winner(?: is)?|"
            rf"(?:{_GOOD})(?: one| image| match| choice| option)?(?: is)?)\s*[:\-]?\s*«([AB])»")
    verdicts.update(m[1] for m in re.finditer(lead, t, re.I))
    if len(verdicts) == 1:
        return verdicts.pop()  # type: ignore[return-value]
    if verdicts:
        return None
    labels = set(re.findall(r"«([AB])»", t))
    if len(labels) != 1 or _TIE.search(t):
        return None
    return labels.pop()  # type: ignore[return-value]


# -------------------------------------------------------------------------------------------
# text directors: a retry loop around raw answers
# -------------------------------------------------------------------------------------------

QUESTION = ('Images (A) and (B) were both made for the text "{prompt}". Which image matches the text '
            'better? Answer with "(A) is better" or "(B) is better" and nothing else.')


class TextDirector:
    """``prefer`` over raw text answers: parse, retry on an unreadable answer, count everything."""

    name = "text"

    def __init__(self, retries: int = 5) -> None:
        self.retries = retries
        self.stats: dict[str, Any] = dict(calls=0, attempts=0, parse_failures=0, undecided=0, failed_answers=[])

    def answer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, attempt: int) -> str:
        raise NotImplementedError

    def prefer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, tie: Choice | None = None
               ) -> Choice | None:
        self.stats["calls"] += 1
        for attempt in range(self.retries + 1):
            text = self.answer(prompt, image_a, image_b, attempt)
            self.stats["attempts"] += 1
            choice = parse_choice(text)
            if choice is not None:
                return choice
            self.stats["parse_failures"] += 1
            if len(self.stats["failed_answers"]) < 5:  # a few examples for the manifest
                self.stats["failed_answers"].append(text[:200])
        self.stats["undecided"] += 1
        return None


class ScriptedDirector(TextDirector):
    """Answers from a list (cycled), through the real parser and retry loop."""

    name = "scripted"

    def __init__(self, answers: list[str], retries: int = 5) -> None:
        if not answers:
            raise ValueError("a scripted director needs at least one answer")
        super().__init__(retries)
        self.answers, self._next = list(answers), 0

    def answer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, attempt: int) -> str:
        text = self.answers[self._next % len(self.answers)]
        self._next += 1
        return text


def side_by_side(image_a: Image.Image, image_b: Image.Image) -> Image.Image:
    """Both images on white, (A) under the left one and (B) under the right one."""
    h = max(image_a.height, image_b.height)
    a, b = (im.convert("RGB").resize((round(im.width * h / im.height), h)) for im in (image_a, image_b))
    pad, label = max(2, h // 50), max(12, h // 6)
    canvas = Image.new("RGB", (a.width + b.width + 3 * pad, h + 2 * pad + label), "white")
    canvas.paste(a, (pad, pad))
    canvas.paste(b, (a.width + 2 * pad, pad))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=int(label * 0.8))
    for text, x0, w in (("(A)", pad, a.width), ("(B)", a.width + 2 * pad, b.width)):
        draw.text((x0 + w // 2, h + pad + label // 2), text, fill="black", anchor="mm", font=font)
    return canvas


class VLMDirector(TextDirector):
    """A transformers VLM asked which image aligns better; loads on first use (hub id or folder)."""

    name = "vlm"

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", retries: int = 5,
                 max_new_tokens: int = 16, temperature: float = 0.7, layout: str = "side_by_side",
                 seed: int = 0) -> None:
        if layout not in ("side_by_side", "pair"):
            raise ValueError(f"VLM director layout must be side_by_side or pair, not {layout!r}")
        super().__init__(retries)
        self.model_name, self.device_name, self.dtype_name = model, device, dtype
        self.max_new_tokens, self.temperature, self.layout, self.seed = max_new_tokens, temperature, layout, seed
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.device = resolve_device(self.device_name)
        dtype = (torch.float16 if self.device.startswith("cuda") else torch.float32) if self.dtype_name == "auto" \
            else getattr(torch, self.dtype_name)
        try:
            self._processor = AutoProcessor.from_pretrained(self.model_name)
            model = AutoModelForImageTextToText.from_pretrained(self.model_name, dtype=dtype)
        except OSError as e:
            raise ValueError(f"cannot load the VLM director {self.model_name!r}: {e}") from e
        tok = self._processor.tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self._model = model.eval().to(self.device)

    def request(self, prompt: str) -> str:
        """The full text prompt with its image placeholders (the processor's chat template if it has one)."""
        n_images = 1 if self.layout == "side_by_side" else 2
        question = QUESTION.format(prompt=prompt)
        if n_images == 2:
            question = "The first image is (A), the second is (B). " + question
        if getattr(self._processor, "chat_template", None):
            turn = [{"role": "user", "content": [*[{"type": "image"}] * n_images, {"type": "text", "text": question}]}]
            return self._processor.apply_chat_template(turn, add_generation_prompt=True)
        token = getattr(self._processor, "image_token", "<image>")
        return f"USER: {token * n_images}\n{question} ASSISTANT:"

    def answer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, attempt: int) -> str:
        import torch

        if self._model is None:
            self._load()
        images = [side_by_side(image_a, image_b)] if self.layout == "side_by_side" else \
            [image_a.convert("RGB"), image_b.convert("RGB")]
        inputs = self._processor(images=images, text=[self.request(prompt)], return_tensors="pt").to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        sample = attempt > 0 and self.temperature > 0  # greedy first; a retry samples
        kw: dict[str, Any] = dict(max_new_tokens=self.max_new_tokens, do_sample=sample,
                                  pad_token_id=self._processor.tokenizer.pad_token_id)
        if sample:
            kw["temperature"] = self.temperature
        devices = [self._model.device.index or 0] if self._model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(stable_seed("edgen-vlm", self.seed, prompt, attempt) % 2**63)
            out = self._model.generate(**inputs, **kw)
        return self._processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]


def make_director(spec: str, retries: int = 5, seed: int = 0, **vlm_options: Any) -> Director:
    """``world``, ``vlm:<hub id or folder>`` or ``scripted:<answer>|<answer>|...``."""
    kind, _, rest = spec.partition(":")
    if spec == "world":
        from trainers.edgen.world_judge import WorldDirector

        return WorldDirector(seed=seed)
    if kind == "vlm" and rest:
        return VLMDirector(rest, retries=retries, seed=seed, **vlm_options)
    if kind == "scripted" and rest:
        return ScriptedDirector(rest.split("|"), retries=retries)
    raise ValueError(f"unknown director {spec!r}; use world, vlm:<model> or scripted:<answer>|<answer>|...")
