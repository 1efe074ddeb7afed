"""Large ingests are written in chunks, each a short transaction, hidden until the last one
(issue 11 part 2): other writers get the lock between chunks, readers never see half a file,
and a failure, a crash or a second large ingest leaves every figure as it was."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import db
from bot.cli import cli
from bot.db import open_store

HEADER = "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh"
SRC = "source_title,source_publisher,source_published"
YEARS = range(1990, 2013)  # 23 new figures: 5 chunks of 5


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(db, "CHUNK_ROWS", 5)
    monkeypatch.setattr(db, "CHUNK_MAX_ROWS", 5)


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "decades.csv"
    rows = [
        f"users,pan_auto,,{y}Q1,{y}000,=,users,decades,,,,Decades,Archive,2020-01-01" for y in YEARS
    ]
    path.write_text("\n".join([f"{HEADER},{SRC}", *rows]) + "\n", encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["ingest", *args], catch_exceptions=False)


def ask(question: str) -> dict:
    out = CliRunner().invoke(cli, ["ask", "--json", question], catch_exceptions=False).output
    return json.loads(out)


def content(path: Path) -> list[str]:
    """Every row of every table (SQLite's own id counter aside): what a user could read."""
    with sqlite3.connect(path) as conn:
        return [line for line in conn.iterdump() if "sqlite_sequence" not in line]


def test_a_large_file_is_written_in_chunks_and_answered(db_path: Path, big_file: Path) -> None:
    open_store(db_path).close()
    result = run(str(big_file))
    assert result.exit_code == 0, result.output
    assert "23 added" in result.output
    answer = ask("pan-auto users 1995 Q1")
    assert answer["status"] == "answered" and answer["facts"][0]["value"] == 1995000
    assert answer["facts"][0]["source"]["title"] == "Decades"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM pending_batches").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM facts").fetchone() == (14 + 23,)
        batches = conn.execute("SELECT DISTINCT batch FROM facts_all WHERE file = 'decades.csv'")
        assert len(batches.fetchall()) == 1


def test_between_chunks_readers_see_nothing_new_and_writers_get_in(
    db_path: Path, big_file: Path, monkeypatch
) -> None:
    open_store(db_path).close()
    seen: list[tuple] = []
    real_sleep = db.time.sleep

    def between_chunks(seconds: float) -> None:
        # Another process's connection, with no busy wait: the lock must be free right now.
        other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute(
                "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                "VALUES ('q', 'q', 'not_found', 'private', '2026-01-01')"
            )
            other.execute("COMMIT")
            visible = other.execute(
                "SELECT count(*) FROM facts WHERE file = 'decades.csv'"
            ).fetchone()[0]
            written = other.execute(
                "SELECT count(*) FROM facts_all WHERE file = 'decades.csv'"
            ).fetchone()[0]
        finally:
            other.close()
        seen.append((visible, written, ask("pan-auto users 1990 Q1")["status"]))
        real_sleep(seconds)

    monkeypatch.setattr(db.time, "sleep", between_chunks)
    result = run(str(big_file))
    assert result.exit_code == 0, result.output
    # after each of the 5 chunks: written but hidden, and the question is not answered yet
    assert seen == [(0, n, "not_found") for n in (5, 10, 15, 20, 23)]
    assert ask("pan-auto users 1990 Q1")["status"] == "answered"
    with sqlite3.connect(db_path) as conn:  # the five writes made between chunks are kept
        assert conn.execute("SELECT count(*) FROM unanswered WHERE text = 'q'").fetchone() == (5,)


def test_a_failure_part_way_through_the_chunks_changes_nothing(
    db_path: Path, big_file: Path
) -> None:
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:  # the 13th new figure cannot be written
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON facts_all "
            "WHEN (SELECT count(*) FROM facts_all) >= 14 + 12 "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    conn.close()
    before = content(db_path)
    result = run(str(big_file))
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: decades.csv: writing failed (disk says no); nothing was changed"
    )
    # The chunks already written are deleted again: every table holds what it held.
    assert content(db_path) == before
    assert ask("pan-auto users 1990 Q1")["status"] == "not_found"


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_rows_of_a_killed_ingest_stay_hidden_and_are_cleared_by_the_next(
    db_path: Path, big_file: Path
) -> None:
    open_store(db_path).close()
    # What kill -9 after two chunks leaves: a batch whose process is gone, and its rows.
    with sqlite3.connect(db_path) as conn:
        batch = conn.execute(
            "INSERT INTO pending_batches (file, host, pid, lease_until) VALUES (?, ?, ?, ?)",
            ("decades.csv", db.HOST, dead_pid(), 1e12),
        ).lastrowid
        conn.executemany(
            "INSERT INTO facts_all (metric, segment, platform, period, value, qualifier, unit, "
            "source, file, updated_at, batch) VALUES ('users', 'pan_auto', '', ?, 1, '=', "
            "'users', 'decades', 'decades.csv', '2026-01-01', ?)",
            [(f"{y}Q1", batch) for y in YEARS[:10]],
        )
    conn.close()
    assert ask("pan-auto users 1990 Q1")["status"] == "not_found"
    assert "1990Q1" not in json.dumps(ask("pan-auto users"))
    result = run(str(big_file))
    assert result.exit_code == 0, result.output
    assert "23 added" in result.output
    answer = ask("pan-auto users 1990 Q1")
    assert answer["status"] == "answered" and answer["facts"][0]["value"] == 1990000
    with sqlite3.connect(db_path) as conn:
        assert conn.execute(
            "SELECT count(*) FROM facts_all WHERE batch = ?", (batch,)
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pending_batches").fetchone() == (0,)


def test_a_second_large_ingest_is_refused_while_one_is_written(
    db_path: Path, big_file: Path
) -> None:
    open_store(db_path).close()
    with sqlite3.connect(db_path) as conn:  # a live process is writing another batch
        conn.execute(
            "INSERT INTO pending_batches (file, host, pid, lease_until) VALUES (?, ?, ?, ?)",
            ("other.xlsx", "analyst-pc", 4242, 1e12),
        )
    conn.close()
    before = content(db_path)
    result = run(str(big_file))
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: decades.csv: other.xlsx is being written (pid 4242 on analyst-pc); "
        "try again when it ends; nothing was changed"
    )
    assert content(db_path) == before


def test_a_small_file_still_goes_in_one_transaction(db_path: Path, tmp_path: Path) -> None:
    open_store(db_path).close()
    path = tmp_path / "few.csv"
    rows = [
        f"users,pan_auto,,{y}Q1,{y},=,users,few,,,,Few,Archive,2020-01-01"
        for y in range(2001, 2006)
    ]
    path.write_text("\n".join([f"{HEADER},{SRC}", *rows]) + "\n", encoding="utf-8")
    assert run(str(path)).exit_code == 0
    with sqlite3.connect(db_path) as conn:  # no batch was needed
        assert conn.execute(
            "SELECT DISTINCT batch FROM facts_all WHERE file = 'few.csv'"
        ).fetchall() == [(0,)]
        assert conn.execute(
            "SELECT count(*) FROM sqlite_sequence WHERE name = 'pending_batches'"
        ).fetchone() == (0,)


def test_a_store_made_before_batches_keeps_every_figure(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(path).close()
    with sqlite3.connect(path) as conn:  # back to the old layout: a plain `facts` table
        conn.execute("DROP VIEW facts")
        conn.execute("ALTER TABLE facts_all RENAME TO facts")
        conn.execute("ALTER TABLE facts DROP COLUMN batch")
        conn.execute("UPDATE facts SET value = 123 WHERE metric = 'users' AND period = '2019Q3'")
    conn.close()
    store = open_store(path)
    try:
        assert store.count_facts() == 14
        fact = store.facts_by_source("users", "pan_auto", None, db.Period(2019, 3))[0]
        assert fact.value == 123  # the store's own figure, not reloaded from data/
        kinds = dict(
            store.conn.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'facts%'")
        )
        assert kinds["facts"] == "view" and kinds["facts_all"] == "table"
    finally:
        store.close()


def test_kill_9_of_a_large_ingest_in_a_real_process_loses_nothing(tmp_path: Path) -> None:
    """`marketbot ingest` killed between chunks: no figure of it shows, and it can be redone."""
    store = tmp_path / "store.db"
    open_store(store).close()
    # 10,800 new figures: more than one transaction takes (db.CHUNK_ROWS), so several chunks.
    rows = [
        f"{m},{seg},{plat},{y}Q{q},{y * 10 + q},=,users,big,,,,Big,Archive,2020-01-01"
        for m in ("users", "dau", "mau")
        for seg in ("pan_auto", "aftermarket", "ride_code")
        for plat in ("", "wechat", "alipay")
        for y in range(1950, 2050)
        for q in (1, 2, 3, 4)
    ]
    path = tmp_path / "big.csv"
    path.write_text("\n".join([f"{HEADER},{SRC}", *rows]) + "\n", encoding="utf-8")
    env = {**os.environ, "MARKETBOT_DB": str(store)}
    cmd = [sys.executable, "-m", "bot", "ingest", str(path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(store, timeout=30) as conn:
            written = conn.execute("SELECT count(*) FROM facts_all WHERE batch > 0").fetchone()[0]
        conn.close()
        if written:
            break
        time.sleep(0.01)
    assert written, "the ingest finished before a chunk could be seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM facts").fetchone() == (14,)
        assert conn.execute("SELECT count(*) FROM pending_batches").fetchone() == (1,)
    conn.close()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(rows):,} added" in again.stdout
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM facts").fetchone() == (14 + len(rows),)
        assert conn.execute("SELECT count(*) FROM pending_batches").fetchone() == (0,)
    conn.close()
