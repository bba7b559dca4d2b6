"""``selma``: skill-specific LoRA experts on self-generated images, then merged (SELMA, in the round loop).

Round k carries out entry k of the ``plan`` (default: every skill in ``skills``, then
``"merge"``, then ``"mixed"``; the loop's ``rounds`` says how many entries run):

* a skill name: write ``prompts_per_skill`` prompts for the skill, generate
  ``images_per_prompt`` images per prompt with the base model (or with ``image_source``, a
  pipeline folder or ``world:base``, for weak-to-strong; with ``image_filter = "world"`` only
  the images the exact world judges pass are kept, a departure from SELMA, which keeps every
  image), train a fresh LoRA expert on them for
  ``steps`` steps, and save the base with the expert fused (weight 1) as the round's checkpoint,
  the expert's weights in ``selma/expert`` and the prompts in ``selma/prompts.json``;
* ``"merge"``: merge the latest expert of every skill (found in this loop's round folders, or
  given by ``experts = {skill = folder}``) into the base, linear with weights 1/N by default
  (exactly W + sum_i w_i Delta_i), or TIES / DARE (``merge = "ties" | "dare_linear"``, not sums);
* ``"mixed"``: the baseline, one LoRA trained on the union of every skill's data (the same
  prompts and images as the experts) for ``steps`` x N steps, the experts' total.

Every expert and the baseline start from the same base: the loop's first checkpoint (recorded
in each SELMA round's manifest and read back from the start checkpoint), not the last promoted
round, so a promoted expert never leaks into the next one. Gate each expert on its own skill
against that base with the loop's ``[[gate.round]]`` tables (``against = "initial"``; see
``trainers/configs/selma-world.toml``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.device import resolve_device
from trainers import register_trainer
from trainers.loop import RoundContext, resolve_checkpoint, trainer_options
from trainers.sampling import generate_images, keep_judged, stable_seed
from trainers.selma import lora
from trainers.selma.prompts import make_writer
from trainers.selma.skills import WORLD_SKILLS, get_skill

EXPERT_DIR = "selma/expert"
IMAGE_FILTERS = ("none", "world")
PROMPT_FILE = "selma/prompts.json"


@dataclass
class Options:
    skills: list[str] = field(default_factory=lambda: list(WORLD_SKILLS))
    plan: list[str] | None = None  # default: skills, then "merge", then "mixed"
    writer: str = "world"  # world | fake | lm:<model> | api:<module>:<callable>
    prompts_per_skill: int = 50
    rouge_threshold: float | None = 0.8  # a negative value turns the filter off (TOML has no null)
    lm_temperature: float = 1.0
    lm_max_new_tokens: int = 400
    images_per_prompt: int = 1
    image_source: str = ""  # "" = the model being tuned; else a pipeline (weak-to-strong)
    image_filter: str = "none"  # none (as SELMA) | world: keep the images geneval-world's judge passes
    gen_steps: int = 20
    guidance: float = 7.5
    size: int | None = None
    gen_batch: int = 16
    steps: int = 100
    batch_size: int = 8
    lr: float = 3e-4
    fg_weight: float = 0.0  # world images: objects' latent positions weigh 1 + fg_weight (see finetune)
    rank: int = 16
    alpha: float | None = None  # default: the rank
    merge: str = "linear"
    merge_weights: list[float] | None = None
    density: float = 0.5
    experts: dict[str, str] = field(default_factory=dict)
    base: str = ""
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Options:
        opts = trainer_options(cls, raw, "selma")
        for s in opts.skills:
            get_skill(s)
        if opts.rouge_threshold is not None and opts.rouge_threshold < 0:
            opts.rouge_threshold = None
        if opts.merge not in lora.METHODS:
            raise ValueError(f"selma: merge must be one of {', '.join(lora.METHODS)}, not {opts.merge!r}")
        if opts.image_filter not in IMAGE_FILTERS:
            raise ValueError(f"selma: image_filter must be one of {', '.join(IMAGE_FILTERS)}, "
                             f"not {opts.image_filter!r}")
        return opts

    @property
    def full_plan(self) -> list[str]:
        plan = self.plan if self.plan is not None else [*self.skills, "merge", "mixed"]
        bad = [p for p in plan if p not in ("merge", "mixed") and p not in self.skills]
        if bad:
            raise ValueError(f"selma: plan entries {bad} are neither 'merge', 'mixed' nor one of skills {self.skills}")
        return plan


def _manifest(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / "data_manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def base_of(ctx: RoundContext, opts: Options) -> str:
    """The checkpoint every expert starts from: ``base`` if given, else the SELMA base recorded in
    the start checkpoint's manifest, else the start checkpoint itself (round 1)."""
    if opts.base:
        return resolve_checkpoint(opts.base)
    m = _manifest(ctx.start)
    return m["base"] if m.get("trainer") == "selma" else ctx.start


def _device(opts: Options) -> str:
    return resolve_device(opts.device)


def _load(path: str, device: str):  # noqa: ANN202
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def skill_data(skills: list[str], base: str, opts: Options, device: str
               ) -> tuple[list[tuple[str, torch.Tensor]], dict[str, list[str]], dict[str, dict]]:
    """Prompts and self-generated (or ``image_source``) images for ``skills``; the same for a skill
    in any round, so the mixed baseline sees exactly the experts' data."""
    writer = make_writer(opts.writer, opts.rouge_threshold, temperature=opts.lm_temperature,
                         max_new_tokens=opts.lm_max_new_tokens, device=device) \
        if opts.writer.startswith("lm:") else make_writer(opts.writer, opts.rouge_threshold)
    prompts, stats = {}, {}
    for s in skills:
        prompts[s] = writer.write(get_skill(s), opts.prompts_per_skill, stable_seed("selma-prompts", opts.seed, s))
        stats[s] = dict(getattr(writer, "stats", {}))
        if not prompts[s]:
            raise ValueError(f"selma: the {opts.writer} writer accepted no prompt for skill {s!r}")
    del writer
    source = resolve_checkpoint(opts.image_source) if opts.image_source else base
    gen_pipe = _load(source, device)
    data = []
    for s in skills:
        images = generate_images(gen_pipe, prompts[s], opts.images_per_prompt,
                                 stable_seed("selma-images", opts.seed, s), opts.gen_steps, opts.guidance,
                                 opts.size, opts.gen_batch)
        if opts.image_filter == "world":
            images = world_filter(images)
            stats[s]["images_kept"] = len(images)
            if not images:
                raise ValueError(f"selma: the world judges passed none of skill {s!r}'s "
                                 f"{len(prompts[s]) * opts.images_per_prompt} images (image_filter = \"world\")")
        data += images
    return data, prompts, stats


def world_filter(images: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """The (prompt, image) pairs whose image geneval-world's judge passes for its prompt, judged
    against the GenEval row its world scene makes; a prompt outside the world grammar is dropped."""
    from bench.types import Prompt
    from bench.world.grammar import geneval_row, parse_prompt
    from suites import resolve_suite
    from trainers.edgen.world_judge import scene_task

    scenes = {t: parse_prompt(t) for t, _ in images}
    rows = {t: geneval_row(scene_task(sc), sc) for t, sc in scenes.items() if sc is not None}
    prompts = {t: Prompt("selma", t, row["tag"], row) for t, row in rows.items()}
    kept, _ = keep_judged([pair for pair in images if pair[0] in prompts], prompts,
                          resolve_suite("geneval-world").judge)
    return kept


def _train_round(ctx: RoundContext, opts: Options, step: str, base: str) -> dict[str, Any]:
    device = _device(opts)
    skills = list(opts.skills) if step == "mixed" else [step]
    data, prompts, stats = skill_data(skills, base, opts, device)
    steps = opts.steps * (len(opts.skills) if step == "mixed" else 1)
    seed = stable_seed("selma-train", opts.seed, step) % 2**31
    pipe = _load(base, device)
    model = lora.attach_lora(pipe, opts.rank, opts.alpha, seed)
    losses = lora.train_lora(pipe, model, data, steps, opts.batch_size, opts.lr, seed, opts.fg_weight)
    ctx.out.mkdir(parents=True, exist_ok=True)
    lora.save_expert(model, ctx.out / EXPERT_DIR)
    lora.fuse_into_base(pipe, model)
    pipe.save_pretrained(ctx.out)
    (ctx.out / PROMPT_FILE).write_text(json.dumps(prompts, indent=1) + "\n")
    return {"trainer": "selma", "kind": "expert" if step != "mixed" else "mixed", "skill": step, "skills": skills,
            "base": base, "writer": opts.writer, "image_source": opts.image_source or "self",
            "prompts_requested": opts.prompts_per_skill, "prompts": {s: len(p) for s, p in prompts.items()},
            "writer_stats": stats, "images_per_prompt": opts.images_per_prompt, "images": len(data),
            "image_filter": opts.image_filter,
            "data_size": len(data), "steps": steps, "batch_size": opts.batch_size, "lr": opts.lr,
            "fg_weight": opts.fg_weight, "rank": opts.rank,
            "alpha": opts.alpha if opts.alpha is not None else opts.rank, "seed": opts.seed,
            "loss_first": losses[0], "loss_last": losses[-1], "expert_dir": EXPERT_DIR, "prompt_file": PROMPT_FILE}


def find_experts(work_dir: Path, skills: list[str], base: str, given: dict[str, str]) -> dict[str, Path]:
    """The expert folder of every skill: ``given`` (an expert folder or a round folder holding one),
    else the latest finished round of this loop that trained that skill's expert from ``base``."""
    found: dict[str, Path] = {}
    for d in sorted(work_dir.glob("round-[0-9][0-9][0-9]")):
        m = _manifest(d)
        if m.get("trainer") == "selma" and m.get("kind") == "expert" and m.get("base") == base:
            found[m["skill"]] = d / m["expert_dir"]
    for skill, path in given.items():
        p = Path(path)
        found[skill] = p / EXPERT_DIR if (p / EXPERT_DIR).exists() else p
    missing = [s for s in skills if s not in found or not (found[s] / "adapter_model.safetensors").exists()]
    if missing:
        raise ValueError(f"selma merge: no trained expert for skill(s) {', '.join(missing)} in {work_dir} "
                         "(train them in earlier rounds, or give experts = {skill = folder})")
    return {s: found[s] for s in skills}


def _merge_round(ctx: RoundContext, opts: Options, base: str) -> dict[str, Any]:
    experts = find_experts(ctx.work_dir or ctx.out.parent, opts.skills, base, opts.experts)
    pipe = _load(base, _device(opts))
    weights = lora.merge_experts(pipe, list(experts.values()), opts.merge_weights, opts.merge, opts.density,
                                 opts.seed)
    ctx.out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(ctx.out)
    sizes = {s: _manifest(p.parent.parent).get("data_size", 0) for s, p in experts.items()}
    return {"trainer": "selma", "kind": "merge", "skill": "merge", "skills": opts.skills, "base": base,
            "method": opts.merge, "density": opts.density if opts.merge != "linear" else None,
            "weights": dict(zip(experts, weights, strict=True)), "experts": {s: str(p) for s, p in experts.items()},
            "data_size": int(sum(sizes.values())), "steps": 0, "seed": opts.seed}


@register_trainer("selma", "SELMA: per-skill LoRA experts on self-generated images, then merged (1/N); options: "
                  "skills, plan, writer, prompts_per_skill, rouge_threshold, images_per_prompt, image_source, "
                  "image_filter, "
                  "steps, batch_size, lr, rank, alpha, merge, density (see trainers/selma/trainer.py)")
def train_round(ctx: RoundContext) -> dict[str, Any]:
    opts = Options.from_dict(ctx.options)
    plan = opts.full_plan
    if ctx.index > len(plan):
        raise ValueError(f"selma: round {ctx.index} asked, but the plan has {len(plan)} rounds: {plan}")
    step = plan[ctx.index - 1]
    base = base_of(ctx, opts)
    if step == "merge":
        return _merge_round(ctx, opts, base)
    return _train_round(ctx, opts, step, base)
