"""Ship a trained world model as ``world:base``: copy the pipeline, score it, write its model card.

    python -m trainers.world_model.ship --train-dir runs/base --vae-log runs/vae.log \
        --where "2-vCPU CPU machine" --command "..." [--images-per-prompt 2]

Copies the pipeline folders (no optimiser state) into ``bench/world/base_model``, scores it
on geneval-world through the normal runner with the sampling settings ``world:base`` uses,
and writes ``README.md`` there: data, steps, wall time, where it ran, and the six task
scores with their intervals.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from PIL import Image

from bench.candidates.world import BASE_MODEL, BASE_SAMPLING
from bench.runner import run
from bench.store import stored_image_path
from leaderboard.data import load_run, load_samples
from trainers.world_model.build import latent_size

KEEP = ("model_index.json", "scheduler", "text_encoder", "tokenizer", "transformer", "unet", "vae",
        "world_model_config.json")


def export(train_dir: Path, dest: Path = BASE_MODEL) -> int:
    """Copy the pipeline into ``dest`` with its weights stored in fp16 (half the bytes, so the
    model fits the 20 MB budget; diffusers loads them back as fp32, and samples differ by about
    1e-3); return the size of its files in bytes."""
    from safetensors.torch import load_file, save_file

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in KEEP:
        src = train_dir / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    for f in dest.rglob("*.safetensors"):
        weights = load_file(f)
        save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, f,
                  metadata={"format": "pt"})
    return sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())


def log_summary(*paths: Path) -> dict:
    """Steps, wall minutes and final loss of train.py logs (several: the logs of the models each
    warm-started from, oldest first, then its own). Each run appends a segment whose clock
    starts again: a ``--resume`` run goes on counting steps, an ``--init`` run (a warm start from a
    saved model) counts from 0 again, so its steps are shifted to follow the runs before it. Rows
    get these overall step numbers; a segment records its batch (32 where old logs lack it)."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.startswith("{")]
    segments: list[dict] = []
    offset = last = 0
    for r in rows:
        if not segments or r["elapsed_min"] < segments[-1]["minutes"]:
            if segments and r["step"] <= last:  # a warm start: its steps follow the runs before it
                offset = segments[-1]["steps"]
            segments.append({"from": segments[-1]["steps"] if segments else 0, "batch": r.get("batch", 32),
                             "device": r.get("device", "cpu")})
        last = r["step"]
        r["step"] += offset
        segments[-1] |= {"steps": r["step"], "minutes": r["elapsed_min"]}
    return {"steps": rows[-1]["step"], "minutes": sum(g["minutes"] for g in segments),
            "final_loss": rows[-1].get("loss", 0.0), "segments": segments, "rows": rows}


def _steps_text(train: dict) -> str:
    """"2500 steps" or, for a model trained in several runs, each run with its own cosine schedule."""
    segs = train.get("segments") or [{"batch": 32}]
    if len(segs) < 2:
        return f"{train['steps']} steps of batch {segs[0]['batch']}, AdamW, cosine schedule"
    same_batch = len({g["batch"] for g in segs}) == 1
    parts = ", then ".join(
        f"steps {g['from']}-{g['steps']}" + ("" if same_batch else f" of batch {g['batch']}")
        + (" on a GPU" if g["device"] != "cpu" else "") + f" in {g['minutes']:.1f} min" for g in segs)
    batch = f" of batch {segs[0]['batch']}" if same_batch else ""
    return (f"{train['steps']} steps{batch} in {len(segs)} runs ({parts}), AdamW; each run sets a cosine "
            "schedule over its own `--steps` (a warm restart): a resumed run keeps the weights, EMA and "
            "optimiser state, an `--init` run the weights only")


def _denoiser_line(cfg: dict) -> str:
    side, ch = latent_size(cfg), cfg["vae"]["latent_channels"]
    if cfg["denoiser"] == "unet":
        u = cfg["unet"]
        extra = ", the pooled text added to the time embedding" if u.get("addition_embed_type") == "text" else ""
        channels = "/".join(map(str, u["block_out_channels"]))
        return (f"Denoiser: `UNet2DConditionModel` on {side}×{side}×{ch} latents (channels {channels}, "
                f"cross-attention below the top level{extra}); pipeline class `StableDiffusionPipeline`")
    p = cfg["pixart"]
    return (f"Denoiser: `PixArtTransformer2DModel` on {side}×{side}×{ch} latents (patch {p['patch_size']}); "
            "pipeline class `PixArtAlphaPipeline`")


def _loss_text(rows: list[dict]) -> str:
    """How the objects were weighted, from the per-step ``fg_weight`` the training log records."""
    weights = [(r["step"], r["fg_weight"]) for r in rows if "fg_weight" in r]
    if not weights:
        return "the objects' latent positions weighted 10× (`--fg-weight 9`)"
    first = weights[0][1]
    if weights[-1][1] == first:
        return f"the objects' latent positions weighted {first + 1:g}× (`--fg-weight {first:g}`)"
    start = max(s for s, w in weights if w == first)
    end = min(s for s, w in weights if w == 0) if any(w == 0 for _, w in weights) else weights[-1][0]
    return (f"the objects' latent positions weighted {first + 1:g}× up to step {start}, the weight then "
            f"faded to none by step {end} (`--fg-fade`): objects cover 2-10% of an image, and without the "
            "weight the model learns to ignore the caption, but a weight that depends on the image moves "
            "the optimum, and a model trained with it to the end draws object-coloured clutter everywhere")


def _objects_text(cfg: dict) -> str:
    """The training renders' object sizes, from the ``object_scale`` saved in the config."""
    scale = float(cfg.get("object_scale", 1.0))
    if scale == 1.0:
        return ""
    return (f" Objects drawn {scale:g}× larger than in the world's evaluation renders (`--object-scale "
            f"{scale:g}`, box widths at most half the canvas): the judges accept any size, and larger "
            "objects weigh more in the loss and span more latent pixels.")


def _kinds_text(cfg: dict) -> str:
    """The mix of scene kinds, when the config saved one (``train.py --kinds``)."""
    kinds = cfg.get("kinds")
    if not kinds:
        return ""
    mix = ", ".join(f"{k} {v:g}" for k, v in kinds.items())
    return (f" Scene kinds drawn in the mix {mix} (`--kinds`; for a resumed run this is its last "
            "run's mix, the command below gives each run's).")


def samples_grid(run_dir: Path, suite: str = "geneval-world", per_task: int = 6, scale: int = 2) -> Image.Image:
    """The scored run's own images as a grid: one row per task, its first ``per_task`` prompts'
    first image each, enlarged ``scale``× (nearest) so the shapes' edges stay visible."""
    rows: dict[str, list[Image.Image]] = {}
    seen: set[str] = set()
    for s in load_samples(load_run(run_dir, run_dir.name), suite):
        row = rows.setdefault(s.category, [])
        if s.prompt_id in seen or len(row) == per_task:
            continue
        seen.add(s.prompt_id)
        with Image.open(stored_image_path(run_dir, s.image_hash)) as im:
            row.append(im.convert("RGB"))
    if not rows:
        raise ValueError(f"no {suite} images in {run_dir}")
    side = max(im.width for row in rows.values() for im in row) * scale
    grid = Image.new("RGB", (side * per_task, side * len(rows)), "white")
    for r, row in enumerate(rows.values()):
        for c, im in enumerate(row):
            grid.paste(im.resize((side, side), Image.Resampling.NEAREST), (c * side, r * side))
    return grid


def card(train: dict, vae: str, scores: dict, size: int, where: str, command: str, n_per_prompt: int,
         status: str = "") -> str:
    cats = scores["categories"]
    rows = "\n".join(f"| {k} | {v['score']:.3f} | [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] | {v['n']} |"
                     for k, v in cats.items())
    cfg = json.loads((BASE_MODEL / "world_model_config.json").read_text())
    vae_factor = 64 // latent_size(cfg)
    data_notes = _objects_text(cfg) + _kinds_text(cfg)
    return f"""# world:base — the Shapes world's diffusion model

A small text-to-image diffusion model trained from scratch on Shapes-world renders, shipped
with gauntlet so that trainers have a real model to improve. Load it as
`--candidate world:base` (sampling `{BASE_SAMPLING}`; override with
`world:base:steps=..,guidance=..`) or as any diffusers pipeline:
`DiffusionPipeline.from_pretrained("bench/world/base_model")`.

## Model

- {_denoiser_line(cfg)}; text encoder: a small `CLIPTextModel` with a byte-level BPE tokenizer
  in which every world word is one token; VAE: a small `AutoencoderKL` ({vae_factor}× downsampling);
  scheduler: DDIM (v-prediction). {size / 1e6:.1f} MB of safetensors, stored in fp16 (loaded as fp32).
- Config (`world_model_config.json`): `{json.dumps(cfg[cfg["denoiser"]])}`.

## Data and training

- Data: random world prompts written by the world grammar (single objects, pairs, counts 2-4,
  colours, relations, mixed), each with a fresh render at 64 px, drawn on the fly; captions
  dropped to "" 10% of the time for classifier-free guidance. The 319 geneval-world prompts
  are part of that distribution (the world is small), their seeds and renders are not.{data_notes}
- VAE: {vae}. Denoiser and text encoder: {_steps_text(train)}, v-prediction with MSE,
  {_loss_text(train.get("rows", []))}; EMA 0.999; {train['minutes']:.1f} min; final loss
  {train['final_loss']:.4f}.
- Where: {where}.
- To reproduce:

```bash
{command}
```

## Scores

geneval-world, {n_per_prompt} images per prompt, sampling `{BASE_SAMPLING}`; 95% cluster-bootstrap
intervals; overall = unweighted mean of the six task means.

| task | score | 95% interval | n |
|---|---|---|---|
{rows}
| **overall** | **{scores['overall']:.3f}** | [{scores['ci'][0]:.3f}, {scores['ci'][1]:.3f}] | {scores['n']} |

The oracle scores 1.000 on every task; the gap on counting, position and colour attribution
is the room that trainers have to show gains.
{status}
![Samples: one row per task ({", ".join(cats)}), its first six prompts, one image each, at the
sampling above](samples.png)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-dir", type=Path, required=True, help="train.py output (pipeline + train_log.jsonl)")
    ap.add_argument("--vae-log", type=Path, help="train_vae.py's log (JSON lines)")
    ap.add_argument("--init-log", type=Path, action="append", default=[],
                    help="train_log.jsonl of the model this one was warm-started from (--init), oldest first; "
                         "repeat for a chain")
    ap.add_argument("--vae-note", default="", help="where the VAE came from, if not from --vae-log")
    ap.add_argument("--status", default="", help="a closing paragraph for the card (e.g. the target's status)")
    ap.add_argument("--where", required=True, help="the machine it was trained on, for the card")
    ap.add_argument("--command", required=True, help="the training commands, for the card")
    ap.add_argument("--images-per-prompt", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("gauntlet-runs"))
    args = ap.parse_args()
    size = export(args.train_dir)
    print(f"exported {size / 1e6:.1f} MB to {BASE_MODEL}")
    outcome = run("world:base", ["geneval-world"], args.out, images_per_prompt=args.images_per_prompt)
    scores = outcome.results["geneval-world"].to_json()
    samples_grid(outcome.run_dir).save(BASE_MODEL / "samples.png")
    if args.vae_log:
        v = log_summary(args.vae_log)
        vae = f"{v['steps']} steps, {v['minutes']:.1f} min"
    elif args.vae_note:
        vae = args.vae_note
    else:
        raise SystemExit("ship: give --vae-log or --vae-note")
    train = log_summary(*args.init_log, args.train_dir / "train_log.jsonl")
    text = card(train, vae, scores, size, args.where, args.command, args.images_per_prompt,
                f"\n{args.status}\n" if args.status else "")
    (BASE_MODEL / "README.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
