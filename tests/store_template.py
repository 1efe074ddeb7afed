"""A faster `fresh_db`: the shipped store is built once per session and copied for each test.

Building the store from data/ takes about a second; copying the built file takes milliseconds,
which is what makes the mutation run (scripts/mutation.sh) finish. Each test still gets its own
real SQLite file. Import `fresh_db` from here to use it instead of conftest's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db import Store, open_store


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "marketbot.db"
    open_store(path).close()
    return path


@pytest.fixture
def fresh_db(store_template: Path, db_path: Path) -> Iterator[Store]:
    """A store with the shipped data in a real SQLite file of its own (a copy of the template)."""
    shutil.copy(store_template, db_path)
    store = open_store(db_path)
    yield store
    store.close()
