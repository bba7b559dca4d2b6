"""Suites: a versioned prompt set, a per-image scorer, an aggregate. One folder each.

A suite registers a factory under its name; ``resolve_suite("geneval:detector=PATH")`` builds
it with options. ``gauntlet suites`` lists the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from bench.registry import Registry
from bench.spec import parse_options
from bench.stats import SuiteResult
from bench.types import Judgment, Prompt


class Suite(Protocol):
    name: str
    version: str
    # how ``aggregate`` forms the overall score from per-image scores, so that gates can
    # bootstrap it: "prompt_means" (mean over prompts; the default when absent) or
    # "category_means" (unweighted mean of per-category means, as GenEval)
    overall_mode: str

    @property
    def judge_id(self) -> str:
        """Which judges (model ids, revisions, options) produce this suite's answers."""
        ...

    def prompts(self) -> list[Prompt]: ...

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        """(score, evidence record) for each (prompt, seed, image)."""
        ...

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult: ...

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """Write the reference implementation's own output files; return their paths."""
        ...


def _load_builtin() -> None:
    import suites.bias  # noqa: F401  (registers bias, social-bias, bias-world)
    import suites.clipscore  # noqa: F401  (registers clipscore)
    import suites.dsg  # noqa: F401  (registers dsg, dsg-world)
    import suites.geneval  # noqa: F401  (registers geneval, geneval-world)
    import suites.hps  # noqa: F401  (registers hps)
    import suites.imagereward  # noqa: F401  (registers imagereward)
    import suites.pickscore  # noqa: F401  (registers pickscore)
    import suites.tifa  # noqa: F401  (registers tifa, tifa-world)
    import suites.world_language  # noqa: F401  (registers multilingual-world, longprompt-world)


SUITES: Registry[Callable[[dict[str, str]], Suite]] = Registry("suite", _load_builtin)
register_suite = SUITES.register


def suite_names() -> dict[str, str]:
    return SUITES.descriptions()


def resolve_suite(spec: str) -> Suite:
    """``name[:key=value,...]`` -> a suite instance."""
    name, _, opts = spec.partition(":")
    try:
        factory = SUITES.get(name)
    except ValueError as e:
        raise ValueError(f"{e} (see `gauntlet suites`)") from None
    return factory(parse_options(opts, f"suite {spec!r}"))
