"""The runner: one candidate over some suites and seeds, resumable at any point.

For each suite, (prompt, seed) requests go through in batches: images already in the store
are reused, missing ones generated and saved, then judged; each batch is committed before
the next starts. Aggregates, official outputs and the manifest (the frozen run spec plus
package versions and counters) are written at the end.

In a multi-process run (:mod:`bench.sharding`) each process takes every N-th request, all
write to the one store, and the main process aggregates once every process has finished
the suite; the order of the judgments, and so the aggregates, is that of one process.
Batches that run out of memory are split (:mod:`bench.backoff`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from PIL import Image

from bench.backoff import BatchLimits
from bench.candidates import Candidate, resolve_candidate
from bench.progress import Progress
from bench.sharding import Processes
from bench.stats import SuiteResult
from bench.store import Store, run_sample_key
from bench.types import GenerationFailure, Judgment, Prompt
from suites import Suite, resolve_suite

PACKAGES = ("gauntlet", "numpy", "pillow", "scipy", "torch", "torchvision", "transformers", "diffusers",
            "open_clip_torch", "accelerate")


@dataclass
class Counters:
    generated: int = 0
    reused_images: int = 0
    judged: int = 0
    reused_judgments: int = 0
    failed: int = 0
    oom_backoffs: int = 0  # batches split after torch.OutOfMemoryError (see bench.backoff)


@dataclass
class RunOutcome:
    candidate: str
    run_dir: Path
    results: dict[str, SuiteResult]
    counters: Counters
    failures: list[dict] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.failures)


def run_dir_name(spec: str) -> str:
    """A readable, unique folder name for a candidate spec."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", spec).strip("-")[:60]
    return f"{slug}-{hashlib.sha256(spec.encode()).hexdigest()[:8]}"


def limit_prompts(prompts: Sequence[Prompt], limit: int | None) -> list[Prompt]:
    """At most ``limit`` prompts per category, in file order."""
    if limit is None:
        return list(prompts)
    seen: dict[str, int] = {}
    out = []
    for p in prompts:
        if seen.get(p.category, 0) < limit:
            seen[p.category] = seen.get(p.category, 0) + 1
            out.append(p)
    return out


@functools.cache
def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def run(
    candidate: str | Candidate,
    suites: Sequence[str | Suite],
    out: Path,
    images_per_prompt: int = 4,
    seed: int = 0,
    limit: int | None = None,
    progress: Progress | None = None,
    processes: Processes | None = None,
) -> RunOutcome:
    """Run one candidate over ``suites``; resume whatever an earlier run in ``out`` finished.

    With ``processes`` (:class:`bench.sharding.Processes`), every process of a launch calls
    this with the same arguments: each makes and judges its stripe of the requests, and the
    main process alone writes aggregates, official files and the manifest, from all of them.
    """
    procs = processes or Processes()
    cand = resolve_candidate(candidate) if isinstance(candidate, str) else candidate
    suite_objs = [resolve_suite(s) if isinstance(s, str) else s for s in suites]
    seeds = list(range(seed, seed + images_per_prompt))
    run_dir = Path(out) / run_dir_name(cand.spec)
    store = Store(run_dir)
    progress = progress or Progress(enabled=False)
    spec = {
        "candidate": cand.spec,
        **({"weights_id": cand.weights_id} if getattr(cand, "weights_id", "") else {}),
        "suites": [{"spec": orig if isinstance(orig, str) else s.name, "name": s.name, "version": s.version,
                    "judge_id": s.judge_id, "overall_mode": getattr(s, "overall_mode", "prompt_means")}
                   for orig, s in zip(suites, suite_objs, strict=True)],
        "seeds": seeds,
        "images_per_prompt": images_per_prompt,
        "limit": limit,
    }
    manifest = {"run_spec": spec, "config_hash": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest(),
                "packages": package_versions(), "status": "running", "started": time.time()}
    if procs.is_main:
        _write_json(run_dir / "manifest.json", manifest)
    counters, failures, results, limits = Counters(), [], {}, BatchLimits()
    try:
        for suite in suite_objs:
            prompts = limit_prompts(suite.prompts(), limit)
            order = {(p.id, s): k for k, (p, s) in enumerate((p, s) for p in prompts for s in seeds)}
            mine: list[dict] = []
            judged = _run_suite(cand, run_sample_key(spec), suite, prompts, seeds, store, counters, mine, progress,
                                procs, limits, order)
            # every process has committed its rows once this returns
            parts = procs.all_gather(([(j.prompt_id, j.seed, j.image_hash) for j in judged], mine))
            failures += sorted((f for _, fs in parts for f in fs), key=lambda f: order[(f["prompt_id"], f["seed"])])
            if procs.is_main:
                if procs.world > 1:
                    judged = _collect(store, suite, [k for keys, _ in parts for k in keys], order)
                results[suite.name] = _outputs(suite, judged, prompts, store, run_dir / suite.name)
        counters.oom_backoffs = len(limits.events)
        per_process = procs.all_gather({"rank": procs.rank, "pid": os.getpid(), **asdict(counters),
                                        "batch_limits": limits.sizes, "backoffs": limits.events})
    finally:
        store.close()
    total = Counters(**{k: sum(p[k] for p in per_process) for k in asdict(counters)})
    aggregates_path = run_dir / "aggregates.json"
    if procs.is_main:
        aggregates = json.loads(aggregates_path.read_text()) if aggregates_path.exists() else {}
        aggregates.update({name: r.to_json() for name, r in results.items()})
        _write_json(aggregates_path, aggregates)
        manifest.update(status="partial" if failures else "complete", partial=bool(failures), failures=failures,
                        counters=asdict(total), finished=time.time(),
                        results={name: r.to_json() for name, r in results.items()},
                        processes=[{k: v for k, v in p.items() if k != "backoffs"} for p in per_process],
                        backoffs=[{"rank": p["rank"], **e} for p in per_process for e in p["backoffs"]])
        _write_json(run_dir / "manifest.json", manifest)
    procs.barrier()  # the main process has written the outputs
    if not procs.is_main:
        saved = json.loads(aggregates_path.read_text())
        results = {s.name: SuiteResult.from_json(saved[s.name]) for s in suite_objs}
    return RunOutcome(cand.spec, run_dir, results, total, failures)


def _run_suite(cand: Candidate, key: str, suite: Suite, prompts: list[Prompt], seeds: list[int], store: Store,
               counters: Counters, failures: list[dict], progress: Progress, procs: Processes,
               limits: BatchLimits, order: dict[tuple[str, int], int]) -> list[Judgment]:
    """This process's stripe of the suite's requests, judged: stored judgments reused, the rest made.
    ``key`` is whose images these are in the store (the run spec's :func:`run_sample_key`)."""
    judge_id = suite.judge_id
    hashes = store.sample_hashes(key)
    done = store.judgments(suite.name, suite.version, judge_id)
    finished: list[Judgment] = []
    todo: list[tuple[Prompt, int]] = []
    requests = procs.shard([(p, s) for p in prompts for s in seeds])
    for p, s in requests:
        h = hashes.get((p.text, s))
        j = done.get((p.id, s, h)) if h else None
        if j is not None:
            finished.append(j)
        else:
            todo.append((p, s))
    counters.reused_judgments += len(finished)
    step = max(1, cand.batch_size)
    with progress.bars(f"{suite.name} · {cand.spec}", len(requests), len(finished)) as bars:
        for i in range(0, len(todo), step):
            batch = todo[i:i + step]
            ready, new_samples = _images_for(cand, batch, hashes, store, counters, failures, limits)
            bars.generated(len(batch))
            scored = (limits.call(f"judge {suite.name}", suite.judge, [(p, s, im) for p, s, _, im in ready])
                      if ready else [])
            new = [Judgment(p.id, s, h, p.category, score, record)
                   for (p, s, h, _), (score, record) in zip(ready, scored, strict=True)]
            store.flush()  # image files first, then the rows that point at them
            store.add_samples(key, new_samples)
            store.add_judgments(suite.name, suite.version, judge_id, new)
            counters.judged += len(new)
            finished += new
            bars.judged(len(batch))
    finished.sort(key=lambda j: order[(j.prompt_id, j.seed)])
    return finished


def _collect(store: Store, suite: Suite, keys: list[tuple[str, int, str]],
             order: dict[tuple[str, int], int]) -> list[Judgment]:
    """The judgments all processes finished (by key), from the shared store, in request order."""
    done = store.judgments(suite.name, suite.version, suite.judge_id)
    return sorted((done[tuple(k)] for k in keys), key=lambda j: order[(j.prompt_id, j.seed)])


def _outputs(suite: Suite, judgments: list[Judgment], prompts: list[Prompt], store: Store,
             out_dir: Path) -> SuiteResult:
    """Aggregate and write the official files, unless the same judgments already produced them."""
    key = json.dumps([suite.name, suite.version, suite.judge_id,
                      [(j.prompt_id, j.seed, j.image_hash) for j in judgments]])
    fingerprint = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    cached = out_dir / "aggregate.json"
    if cached.exists():
        saved = json.loads(cached.read_text())
        if saved.get("fingerprint") == fingerprint and all(Path(f).exists() for f in saved.get("files", [])):
            return SuiteResult.from_json(saved["result"])
    result = suite.aggregate(judgments)
    paths = {j.image_hash: store.image_path(j.image_hash) for j in judgments}
    files = suite.write_official(out_dir, judgments, paths, {p.id: p for p in prompts})
    _write_json(cached, {"fingerprint": fingerprint, "result": result.to_json(), "files": [str(f) for f in files]})
    return result


def _images_for(cand: Candidate, batch: list[tuple[Prompt, int]], hashes: dict, store: Store, counters: Counters,
                failures: list[dict], limits: BatchLimits,
                ) -> tuple[list[tuple[Prompt, int, str, Image.Image]], list[tuple[str, int, str]]]:
    """Images for a batch (stored ones reused, the rest generated) and the new sample rows."""
    ready, missing, rows = [], [], []
    for p, s in batch:
        h = hashes.get((p.text, s))
        if h and store.image_path(h).exists():
            ready.append((p, s, h, store.load_image(h)))
            counters.reused_images += 1
        else:
            missing.append((p, s))
    if missing:
        for (p, s), im in zip(missing, limits.call("generate", cand.generate, missing), strict=True):
            if isinstance(im, GenerationFailure):
                failures.append({"prompt_id": p.id, "seed": s, "reason": im.reason})
                counters.failed += 1
                continue
            h = store.save_image(im)
            hashes[(p.text, s)] = h
            rows.append((p.text, s, h))
            ready.append((p, s, h, im))
        counters.generated += len(rows)
    return ready, rows


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
