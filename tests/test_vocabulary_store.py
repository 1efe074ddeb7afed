"""The vocabulary lives in the store: seeded from data/, taught words kept across rebuilds of
the shipped data and in backups, and new words seen by an open store without reopening it."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from click.testing import CliRunner

from bot.answer import ask
from bot.cli import cli
from bot.db import VOCAB_RECHECK_SECONDS, Store, open_store
from bot.format import render_text
from bot.teaching import teach
from bot.vocab import data_dir, normalize


def answer(store: Store, question: str) -> str:
    return render_text(ask(question, store, record=False), store.vocabulary)


def test_seeded_from_data_with_origin(fresh_db: Store) -> None:
    with (data_dir() / "synonyms.csv").open(encoding="utf-8") as fh:
        shipped = sum(1 for _ in csv.DictReader(fh))
    rows = fresh_db.conn.execute("SELECT origin, count(*) FROM synonyms GROUP BY origin").fetchall()
    assert rows == [("shipped", shipped)]
    assert fresh_db.conn.execute(
        "SELECT zh, origin FROM terms WHERE kind = 'segment' AND key = 'aftermarket'"
    ).fetchone() == ("汽车后市场小程序", "shipped")
    assert "2.83亿" in answer(fresh_db, "泛汽车小程序用户 三季度")


def test_taught_words_survive_a_rebuild_of_the_shipped_data(db_path: Path) -> None:
    store = open_store(db_path)
    teach(store, "车圈", "pan_auto", "tester")
    shipped_before = store.conn.execute(
        "SELECT count(*) FROM synonyms WHERE origin = 'shipped'"
    ).fetchone()
    # An upgrade brings different data/: both hashes differ, so everything shipped reloads.
    store.set_meta("shipped_hash", "older")
    store.set_meta("shipped_vocab_hash", "older")
    store.close()
    store = open_store(db_path)
    assert (
        store.conn.execute("SELECT count(*) FROM synonyms WHERE origin = 'shipped'").fetchone()
        == shipped_before
    )
    assert store.conn.execute(
        "SELECT kind, key, who FROM synonyms WHERE phrase = '车圈'"
    ).fetchall() == [("segment", "pan_auto", "tester")]
    assert "2.83亿" in answer(store, "车圈 用户 三季度")
    store.close()


def test_backup_includes_taught_words(db_path: Path, tmp_path: Path) -> None:
    store = open_store(db_path)
    teach(store, "车圈", "pan_auto", "tester")
    store.close()
    copy = tmp_path / "copy.db"
    result = CliRunner().invoke(cli, ["backup", str(copy), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    restored = open_store(copy)
    assert "2.83亿" in answer(restored, "车圈 用户 三季度")
    restored.close()


def test_an_open_store_sees_words_taught_through_another_connection(db_path: Path) -> None:
    reader = open_store(db_path)
    assert "2.83亿" not in answer(reader, "车圈 用户 三季度")
    writer = open_store(db_path)
    teach(writer, "车圈", "pan_auto", "tester")
    writer.close()
    time.sleep(VOCAB_RECHECK_SECONDS)
    assert "2.83亿" in answer(reader, "车圈 用户 三季度")
    reader.close()


def test_an_open_store_sees_keys_ingested_through_another_connection(
    db_path: Path, tmp_path: Path
) -> None:
    reader = open_store(db_path)
    assert "used car" not in answer(reader, "used car users 2019Q4").lower().split("\n")[0]
    report = tmp_path / "used.csv"
    report.write_text(
        "metric,segment,period,value,unit,source,source_title,source_publisher,source_published\n"
        "users,used_car,2019Q4,52000000,users,uc,Used Car Q4,Sample Research,2020-02-10\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["ingest", "--new-keys", str(report), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    time.sleep(VOCAB_RECHECK_SECONDS)
    assert "52 million" in answer(reader, "used car users 2019Q4")
    reader.close()


def test_nothing_changed_means_no_rebuild(fresh_db: Store) -> None:
    first = fresh_db.vocabulary
    time.sleep(VOCAB_RECHECK_SECONDS)
    assert fresh_db.vocabulary is first  # checked, unchanged: the same object
    teach(fresh_db, "车圈", "pan_auto", "tester")
    assert fresh_db.vocabulary is not first  # a write through this store shows at once


def test_normalize_collapses_every_kind_of_space() -> None:
    # Ideographic and no-break spaces, tabs, line and file separators: one plain space each run.
    assert normalize(" 泛汽車\u3000\u3000DAU\x1c\tQ3\u2028 ") == "泛汽车 dau q3"
    assert normalize("  Aftermarket\u00a0 DAU\n\n2019 ") == "aftermarket dau 2019"
    assert normalize("\t \u3000") == ""
