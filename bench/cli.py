"""The ``gauntlet`` command line: run, suites, candidates, trainers, train, gate, baseline, leaderboard.

Exit codes: 0 success (gate: pass), 1 gate fail or baseline moved, 2 bad input,
3 gate inconclusive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# model loads would otherwise draw a "Loading weights" bar per judge over gauntlet's own bars
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from bench.progress import Progress
from bench.report import print_failures, print_table, results_json

if TYPE_CHECKING:
    from bench.runner import RunOutcome
    from bench.sharding import Processes

DEFAULT_CANDIDATES = (
    "world:oracle",
    "world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1",
    "world:noisy:count=0.4,position=0.3",
)
DEFAULT_SUITES = ("geneval-world",)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gauntlet", description="Text-to-image evaluation and gating harness.")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run candidates through suites (default: the Shapes-world demo)")
    r.add_argument("--candidate", action="append", metavar="SPEC",
                   help=f"candidate spec, repeatable (default: {', '.join(DEFAULT_CANDIDATES)})")
    r.add_argument("--suite", action="append", metavar="NAME",
                   help=f"suite name[:options], repeatable (default: {', '.join(DEFAULT_SUITES)})")
    r.add_argument("--images-per-prompt", type=int, default=4, metavar="N", help="seeds per prompt (default 4)")
    r.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    r.add_argument("--limit", type=int, metavar="N", help="at most N prompts per category")
    r.add_argument("--out", type=Path, default=Path("gauntlet-runs"), metavar="DIR",
                   help="where run folders go (default ./gauntlet-runs); reruns resume from it")
    r.add_argument("--format", choices=("table", "json"), default="table")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--processes", type=int, default=1, metavar="N",
                   help="share the work among N processes, launched through accelerate (default 1); "
                        "under `accelerate launch`/`torchrun` the launcher's processes are used")
    r.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per process (default: torch's own; "
                   "on a CPU whose threads share cores, 1 can be the fastest)")
    sub.add_parser("suites", help="list the suites")
    sub.add_parser("candidates", help="list the candidate kinds")
    sub.add_parser("trainers", help="list the trainers")
    t = sub.add_parser("train", help="run a trainer's gated rounds (resumes an interrupted loop)")
    t.add_argument("trainer", help="trainer name (see `gauntlet trainers`)")
    t.add_argument("--config", type=Path, required=True, metavar="FILE", help="loop config (TOML)")
    t.add_argument("--rounds", type=int, help="override the config's number of rounds")
    t.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for training and scoring (default: "
                   "torch's own; on a CPU whose threads share cores, 1 can be the fastest)")
    g = sub.add_parser("gate", help="decide a run against gate rules (exit 0 pass, 1 fail, 3 inconclusive)")
    g.add_argument("--run", type=Path, required=True, metavar="DIR", help="a run folder (with manifest.json)")
    g.add_argument("--baseline", type=Path, metavar="DIR", help="the run that max_drop rules compare against")
    g.add_argument("--rules", type=Path, required=True, metavar="FILE", help="gate rules (TOML)")
    g.add_argument("--format", choices=("table", "json"), default="table")
    b = sub.add_parser("baseline", help="save or check a CI baseline of a run's aggregates")
    b.add_argument("action", choices=("save", "check"))
    b.add_argument("--run", type=Path, required=True, metavar="DIR")
    b.add_argument("--baseline", "-o", type=Path, required=True, metavar="FILE", help="the baseline JSON")
    b.add_argument("--tolerance", type=float, default=1e-6, help="allowed change per value (save)")
    lb = sub.add_parser("leaderboard", help="write a static HTML leaderboard of every run under RUNS_DIR")
    lb.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="folder with run folders (and training work dirs)")
    lb.add_argument("-o", "--out", type=Path, required=True, metavar="SITE_DIR", help="where the site goes")
    lb.add_argument("--title", default="gauntlet leaderboard", help="the site's title")
    lb.add_argument("--thumb-size", type=int, default=192, metavar="PX", help="longest side of thumbnails (192)")
    lb.add_argument("--page-prompts", type=int, default=200, metavar="N",
                    help="prompts per evidence page of a candidate's suite (200); more go to further pages")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "suites":
            from suites import suite_names

            for name, desc in suite_names().items():
                print(f"{name:<16} {desc}")
            return 0
        if args.command == "candidates":
            from bench.candidates import candidate_kinds

            for kind, example in candidate_kinds().items():
                print(f"{kind:<10} {example}")
            return 0
        if args.command == "trainers":
            from trainers import trainer_names

            for name, desc in trainer_names().items():
                print(f"{name:<10} {desc}")
            return 0
        if args.command == "train":
            return _train(args)
        if args.command == "gate":
            return _gate(args)
        if args.command == "baseline":
            return _baseline(args)
        if args.command == "leaderboard":
            return _leaderboard(args)
        return _run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"gauntlet: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from bench.sharding import launch, under_launcher

    if args.images_per_prompt < 1:
        raise ValueError("--images-per-prompt must be at least 1")
    if args.processes < 1:
        raise ValueError("--processes must be at least 1")
    _check_threads(args.threads)
    if args.processes > 1 and not under_launcher():
        from bench.candidates import resolve_candidate
        from suites import resolve_suite

        for spec in args.candidate or DEFAULT_CANDIDATES:  # bad input fails here, before any fork
            resolve_candidate(spec)
        for spec in args.suite or DEFAULT_SUITES:
            resolve_suite(spec)
        return launch(_run_process, (args,), args.processes)
    return _run_here(args)


def _run_process(args: argparse.Namespace) -> int:
    """One of ``--processes``: bad input is reported as by ``main``."""
    try:
        return _run_here(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"gauntlet: error: {e}", file=sys.stderr)
        return 2


def _run_here(args: argparse.Namespace) -> int:
    """The run in this process: alone, or as one of a launcher's processes (only the main one prints)."""
    from bench.sharding import Processes

    _set_threads(args.threads)
    procs = Processes.from_env()
    finished = False
    try:
        outcomes = _run_candidates(args, procs)
        finished = True
    finally:
        procs.close(finished)
    if not procs.is_main:
        return 0
    if args.format == "json":
        print(json.dumps(results_json(outcomes), indent=2))
    else:
        print_table(outcomes)
    return 0


def _run_candidates(args: argparse.Namespace, procs: Processes) -> list[RunOutcome]:
    from bench.runner import run

    progress = Progress(enabled=not args.quiet and procs.is_main)
    outcomes = []
    for spec in args.candidate or DEFAULT_CANDIDATES:
        outcome = run(spec, args.suite or DEFAULT_SUITES, args.out, args.images_per_prompt, args.seed,
                      args.limit, progress, procs)
        if procs.is_main:
            print_failures(outcome, progress.console)
        outcomes.append(outcome)
    return outcomes


def _gate(args: argparse.Namespace) -> int:
    from bench.gates import gate, load_rules
    from bench.report import print_gate

    report = gate(args.run, load_rules(args.rules), args.baseline)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_gate(report)
    return report.exit_code


def _baseline(args: argparse.Namespace) -> int:
    from bench import baseline

    if args.action == "save":
        path = baseline.save(args.run, args.baseline, args.tolerance)
        print(f"saved {path}")
        return 0
    problems = baseline.check(args.run, args.baseline)
    for p in problems:
        print(p)
    print(f"{len(problems)} value(s) moved beyond tolerance" if problems else "baseline holds")
    return 1 if problems else 0


def _leaderboard(args: argparse.Namespace) -> int:
    from leaderboard import build_site

    summary = build_site(args.runs_dir, args.out, args.title, args.thumb_size, args.page_prompts)
    print(f"wrote {len(summary.pages)} pages ({summary.runs} runs, {summary.trainings} training loops, "
          f"{summary.thumbnails} thumbnails) to {summary.site_dir / 'index.html'}")
    return 0


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, not {threads}")


def _set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads in this process (None: leave torch's default)."""
    _check_threads(threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _train(args: argparse.Namespace) -> int:
    from bench.report import print_rounds
    from trainers import resolve_trainer
    from trainers.loop import RoundLoop, load_config

    train_round = resolve_trainer(args.trainer)
    cfg = load_config(args.config)
    _set_threads(args.threads)
    if args.rounds is not None:
        cfg.rounds = args.rounds
    progress = Progress()
    loop = RoundLoop(cfg, train_round, log=lambda msg: progress.console.print(msg, markup=False, highlight=False))
    print_rounds(loop.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
