"""The run store: content-addressed images on disk and per-sample rows in SQLite (WAL).

Every batch is committed as soon as it is done, and image files are written atomically
(temporary file, then rename) before their row is committed, so a process killed at any
point leaves only finished, consistent work behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def image_hash(image: Image.Image) -> str:
    """SHA-256 of mode, size and pixels: the same picture always gets the same name."""
    h = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class Store:
    """One run directory's images and rows."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "store.sqlite", timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # images ---------------------------------------------------------------------------
    def image_path(self, digest: str) -> Path:
        return self.images_dir / digest[:2] / f"{digest}.png"

    def save_image(self, image: Image.Image) -> str:
        digest = image_hash(image)
        path = self.image_path(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                image.save(f, format="PNG", compress_level=1)
            os.replace(tmp, path)
        return digest

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
