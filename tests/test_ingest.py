"""Ingest: row-level validation, all or nothing, no duplicates, corrections, growth checks."""

from pathlib import Path

import pandas as pd
import pytest

from bot.answer import ask
from bot.ingest import IngestError, ingest_file

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample-ingest.csv"
HEADER = (
    "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh,"
    "source_title,source_publisher,source_published\n"
)
SRC = "src-x,Report X,Publisher X,2020-02-01"


def write(tmp_path: Path, rows: list[str], name: str = "figures.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def snapshot(store) -> list[tuple]:
    return store.conn.execute("SELECT * FROM facts ORDER BY 1, 2, 3, 4, 5").fetchall()


def test_sample_file_adds_a_quarter(fresh_db) -> None:
    before = fresh_db.count_facts()
    result = ingest_file(fresh_db, SAMPLE)
    assert (result.added, result.updated, result.unchanged) == (3, 0, 0)
    assert result.new_periods == ["2019Q4"]
    assert fresh_db.count_facts() == before + 3
    a = ask("aftermarket DAU Q3 vs Q4", fresh_db)
    assert [round(c.pct, 1) for c in a.changes] == [-1.1]
    assert ask("pan-auto users Q4 2019", fresh_db).facts[0].source.publisher == "Sample Research"


def test_reingest_adds_no_duplicates(fresh_db) -> None:
    ingest_file(fresh_db, SAMPLE)
    count = fresh_db.count_facts()
    again = ingest_file(fresh_db, SAMPLE)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert fresh_db.count_facts() == count


def test_correction_replaces_value_and_keeps_provenance(fresh_db, tmp_path) -> None:
    ingest_file(fresh_db, SAMPLE)
    fixed = SAMPLE.read_text().replace("26900", "26950")
    result = ingest_file(fresh_db, write(tmp_path, fixed.splitlines()[1:], "fix.csv"))
    assert result.updated == 1
    fact = ask("aftermarket DAU 2019Q4", fresh_db).facts[0]
    assert fact.value == 26950 and fact.source.title.startswith("Sample Q4 2019")
    rev = fresh_db.conn.execute("SELECT old_value, new_value, file FROM revisions").fetchall()
    assert rev == [(26900.0, 26950.0, "fix.csv")]


def test_every_bad_row_is_reported_and_nothing_changes(fresh_db, tmp_path) -> None:
    before = snapshot(fresh_db)
    path = write(
        tmp_path,
        [
            f"users,pan_auto,,2019Q4,100,=,users,src-x,,,,{SRC.split(',', 1)[1]}",  # fine
            f"users,pan_auto,,2019Q9,100,=,users,src-x,,,,{SRC.split(',', 1)[1]}",  # bad period
            f"dau,aftermarket,,2019Q4,lots,=,users,src-x,,,,{SRC.split(',', 1)[1]}",  # not a number
            f"dau,aftermarket,,2019Q3,5,=,furlongs,src-x,,,,{SRC.split(',', 1)[1]}",  # unknown unit
            "mau,aftermarket,,2019Q4,5,=,users,,,,,,,",  # missing source
            f"mau,aftermarket,,2019Q4,5,>=,users,src-x,,,,{SRC.split(',', 1)[1]}",  # bad qualifier
            "mau,aftermarket,,2019Q1,5,=,users,nowhere,,,,,,",  # unknown source
        ],
    )
    with pytest.raises(IngestError) as err:
        ingest_file(fresh_db, path)
    rows = {row: reason for row, reason in err.value.errors}
    assert set(rows) == {3, 4, 5, 6, 7, 8}
    assert "bad period" in rows[3] and "not a number" in rows[4] and "unknown unit" in rows[5]
    assert "missing source" in rows[6] and "qualifier" in rows[7] and "unknown source" in rows[8]
    assert snapshot(fresh_db) == before


def test_missing_columns_and_bad_files(fresh_db, tmp_path) -> None:
    before = snapshot(fresh_db)
    bad = tmp_path / "bad.csv"
    bad.write_text("metric,segment\nusers,pan_auto\n")
    with pytest.raises(IngestError, match="missing column"):
        ingest_file(fresh_db, bad)
    binary = tmp_path / "junk.xlsx"
    binary.write_bytes(b"\x00\x01not a workbook")
    with pytest.raises(IngestError, match="cannot read"):
        ingest_file(fresh_db, binary)
    other = tmp_path / "figures.json"
    other.write_text("{}")
    with pytest.raises(IngestError, match="unsupported"):
        ingest_file(fresh_db, other)
    assert snapshot(fresh_db) == before


def test_duplicate_rows_in_one_file_are_rejected(fresh_db, tmp_path) -> None:
    row = f"users,pan_auto,,2019Q4,100,=,users,src-x,,,,{SRC.split(',', 1)[1]}"
    with pytest.raises(IngestError) as err:
        ingest_file(fresh_db, write(tmp_path, [row, row]))
    assert err.value.errors[0][0] == 3 and "first at row 2" in err.value.errors[0][1]


def test_stated_growth_is_checked(fresh_db, tmp_path) -> None:
    good = ingest_file(fresh_db, SAMPLE)  # states +6.4% for 283M -> 301M (+6.36%)
    assert good.warnings == []
    wrong = SAMPLE.read_text().replace(",6.4,", ",9.9,").replace("301000000", "301000001")
    result = ingest_file(fresh_db, write(tmp_path, wrong.splitlines()[1:], "wrong.csv"))
    assert len(result.warnings) == 1 and "+9.9%" in result.warnings[0]
    assert "+6.4%" in result.warnings[0]


def test_shipped_growth_rate_matches(fresh_db) -> None:
    row = fresh_db.conn.execute(
        "SELECT stated_pct FROM facts WHERE metric='users' AND segment='pan_auto' AND period='2019Q3'"
    ).fetchone()
    assert row == (42.2,)


def test_xlsx_with_sources_sheet(fresh_db, tmp_path) -> None:
    path = tmp_path / "report.xlsx"
    facts = pd.DataFrame(
        [
            {
                "metric": "cities",
                "segment": "ride_code",
                "platform": "wechat",
                "period": "2019Q4",
                "value": 150,
                "qualifier": ">",
                "unit": "cities",
                "source": "xl-src",
            },
        ]
    )
    sources = pd.DataFrame(
        [
            {
                "id": "xl-src",
                "title": "Excel Report",
                "publisher": "XL Research",
                "published": "2020-01-15",
            }
        ]
    )
    with pd.ExcelWriter(path) as writer:
        facts.to_excel(writer, sheet_name="facts", index=False)
        sources.to_excel(writer, sheet_name="sources", index=False)
    assert ingest_file(fresh_db, path).added == 1
    a = ask("wechat car code cities 2019Q4", fresh_db)
    assert a.facts[0].qualifier == ">" and a.facts[0].source.publisher == "XL Research"


def test_shipped_data_is_idempotent(db_path) -> None:
    from bot.db import open_store

    first = open_store(db_path)
    rows = snapshot(first)
    assert first.ensure_shipped() is False  # nothing to do the second time
    first.close()
    again = open_store(db_path)
    assert snapshot(again) == rows and len(rows) == 14
