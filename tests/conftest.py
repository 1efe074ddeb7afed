"""Shared fixtures: a fresh store file per test, and the store's vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import Store, open_store


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store path of its own, also set as MARKETBOT_DB for the CLI."""
    path = tmp_path / "marketbot.db"
    monkeypatch.setenv("MARKETBOT_DB", str(path))
    return path


@pytest.fixture
def fresh_db(db_path: Path) -> Store:
    """A store built from the shipped data/, in a real SQLite file."""
    store = open_store(db_path)
    yield store
    store.close()
