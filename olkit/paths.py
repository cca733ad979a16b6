"""Where the project's shipped data lives."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The ``data/`` folder shipped with the project (repo checkout) or the package."""
    repo_data = PACKAGE_DIR.parent / "data"
    return repo_data if repo_data.is_dir() else PACKAGE_DIR / "data"
