"""Static HTML leaderboard of gauntlet runs: ``gauntlet leaderboard RUNS_DIR -o SITE_DIR``."""

from leaderboard.site import build_site

__all__ = ["build_site"]
