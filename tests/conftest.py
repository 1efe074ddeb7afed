"""Shared fixtures: a fresh store file per test, and the store's vocabulary."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.db import Store, open_store
from tests.fake_bot_api import FakeBotApi


@pytest.fixture(autouse=True)
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store path of its own, also set as MARKETBOT_DB for the CLI.

    Used by every test (autouse), so no test ever reads or writes the user's own store in
    ~/.config/marketbot, and two test runs on one machine never share one."""
    path = tmp_path / "marketbot.db"
    monkeypatch.setenv("MARKETBOT_DB", str(path))
    return path


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped store, built from data/ once per session (about a second each time)."""
    path = tmp_path_factory.mktemp("template") / "marketbot.db"
    open_store(path).close()
    return path


@pytest.fixture
def fresh_db(store_template: Path, db_path: Path) -> Iterator[Store]:
    """A store with the shipped data in a real SQLite file of its own (a copy of the template,
    which is what makes the answer tests and the mutation run fast)."""
    shutil.copy(store_template, db_path)
    store = open_store(db_path)
    yield store
    store.close()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    """A fake Telegram Bot API server on 127.0.0.1 (random port), stopped after the test.

    Point a PTB Application at it with ``fake_api.application_builder()`` (see
    tests/fake_bot_api.py for pushing updates, recorded requests and fault injection).
    """
    async with FakeBotApi() as server:
        yield server
