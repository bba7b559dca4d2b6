"""The run store: content-addressed images on disk and per-sample rows in SQLite (WAL).

Every batch is committed as soon as it is done, and a sample's row is committed only after
its image file is completely written, so a process killed at any point leaves only
finished, consistent work behind. Image files are written to a temporary name and renamed
into place (``os.replace``), so a file under its final name is always complete, and two
processes writing the same image (same content, same name) cannot corrupt it. Files are
encoded and written by a background thread while the caller goes on judging; ``flush``
waits for them.

Several processes of one run share a store: SQLite in WAL mode lets readers go on while
one writer commits; writers take the write lock when their transaction begins (``BEGIN
IMMEDIATE``) and wait for it up to ``BUSY_TIMEOUT`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from bench.types import Judgment

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    candidate TEXT NOT NULL, prompt_text TEXT NOT NULL, seed INTEGER NOT NULL, image_hash TEXT NOT NULL,
    PRIMARY KEY (candidate, prompt_text, seed));
CREATE TABLE IF NOT EXISTS judgments (
    suite TEXT NOT NULL, version TEXT NOT NULL, judge_id TEXT NOT NULL, prompt_id TEXT NOT NULL,
    seed INTEGER NOT NULL, image_hash TEXT NOT NULL, category TEXT NOT NULL, score REAL NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (suite, version, judge_id, prompt_id, seed, image_hash));
"""


BUSY_TIMEOUT = 300.0  # seconds a process waits for another's commit


def image_hash(image: Image.Image) -> str:
    """BLAKE2b-256 of mode, size and pixels: the same picture always gets the same name."""
    h = hashlib.blake2b(f"{image.mode}:{image.width}x{image.height}:".encode(), digest_size=32)
    h.update(image.tobytes())
    return h.hexdigest()


def stored_image_path(run_dir: Path, digest: str) -> Path:
    """Where a run directory keeps the image named ``digest`` (PNG, fanned out by its first two
    hex digits); readers of a finished run (leaderboard, model cards) find images here."""
    return Path(run_dir) / "images" / digest[:2] / f"{digest}.png"


def sample_key(candidate: str, weights_id: str = "") -> str:
    """Whose images a sample row holds: the candidate spec, plus the weights' fingerprint when the
    candidate has one (a local pipeline folder), so retrained weights at the same path never
    reuse the old model's images."""
    return f"{candidate}@{weights_id}" if weights_id else candidate


def run_sample_key(run_spec: dict) -> str:
    """:func:`sample_key` of a run, from its manifest's ``run_spec``."""
    return sample_key(run_spec["candidate"], run_spec.get("weights_id", ""))


class OwnJudgment(NamedTuple):
    """A judged image of a run's own candidate, with the prompt text it was made for."""

    prompt_id: str
    seed: int
    image_hash: str
    category: str
    score: float
    record: str  # the judge's record, JSON text
    prompt_text: str


def own_judgments(db_path: Path, run_spec: dict, suite: str, version: str, judge_id: str) -> list[OwnJudgment]:
    """``suite``'s judgments in a finished run's store (read-only) of the images the run's own
    candidate made (:func:`run_sample_key`), not those of other weights that shared the store.
    A store without sample rows for the run (made before they were keyed) gives all judgments."""
    con = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    try:
        texts = {(h, s): t for t, s, h in con.execute(
            "SELECT prompt_text, seed, image_hash FROM samples WHERE candidate=?", (run_sample_key(run_spec),))}
        rows = con.execute("SELECT prompt_id, seed, image_hash, category, score, record FROM judgments "
                           "WHERE suite=? AND version=? AND judge_id=?", (suite, version, judge_id)).fetchall()
    finally:
        con.close()
    return [OwnJudgment(p, s, h, c, v, r, texts.get((h, s), p)) for p, s, h, c, v, r in rows
            if not texts or (h, s) in texts]


class Store:
    """One run directory's images and rows."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "store.sqlite", timeout=BUSY_TIMEOUT, isolation_level="IMMEDIATE")
        _retry_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL"))
        self.db.execute("PRAGMA synchronous=NORMAL")
        _retry_locked(lambda: self.db.executescript(_SCHEMA))
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gauntlet-images")
        self._pending: list[Future] = []
        self._dirs: set[Path] = set()

    def close(self) -> None:
        self.flush()
        self._writer.shutdown()
        self.db.close()

    # images ---------------------------------------------------------------------------
    def image_path(self, digest: str) -> Path:
        return stored_image_path(self.root, digest)

    def save_image(self, image: Image.Image) -> str:
        """Queue ``image`` for writing and return its hash; call :meth:`flush` before relying on the file."""
        digest = image_hash(image)
        path = self.image_path(digest)
        if path.parent not in self._dirs:
            path.parent.mkdir(exist_ok=True)
            self._dirs.add(path.parent)
        self._pending.append(self._writer.submit(_write_png, image, path))
        return digest

    def flush(self) -> None:
        """Wait until every queued image is on disk (re-raising any write error)."""
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.result()

    def load_image(self, digest: str) -> Image.Image:
        with Image.open(self.image_path(digest)) as im:
            return im.convert("RGB")

    # samples --------------------------------------------------------------------------
    def sample_hashes(self, candidate: str) -> dict[tuple[str, int], str]:
        rows = self.db.execute("SELECT prompt_text, seed, image_hash FROM samples WHERE candidate=?", (candidate,))
        return {(t, s): h for t, s, h in rows}

    def add_samples(self, candidate: str, rows: Iterable[tuple[str, int, str]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)",
                                [(candidate, t, s, h) for t, s, h in rows])

    # judgments ------------------------------------------------------------------------
    def judgments(self, suite: str, version: str, judge_id: str) -> dict[tuple[str, int, str], Judgment]:
        """Finished judgments keyed by (prompt id, seed, image hash)."""
        rows = self.db.execute(
            "SELECT prompt_id, seed, image_hash, category, score, record FROM judgments "
            "WHERE suite=? AND version=? AND judge_id=?", (suite, version, judge_id))
        return {(p, s, h): Judgment(p, s, h, c, sc, json.loads(r)) for p, s, h, c, sc, r in rows}

    def add_judgments(self, suite: str, version: str, judge_id: str, items: Sequence[Judgment]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(suite, version, judge_id, j.prompt_id, j.seed, j.image_hash, j.category, j.score,
                  json.dumps(j.record)) for j in items])


def _write_png(image: Image.Image, path: Path) -> None:
    """Write ``path`` atomically: encode to a temporary name beside it, then rename."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        image.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _retry_locked(fn: Callable[[], object], tries: int = 50) -> object:
    """``fn()``, retried while another process holds a lock SQLite does not wait for (schema, WAL switch)."""
    for attempt in range(tries):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None
