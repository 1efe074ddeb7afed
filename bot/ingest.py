"""Ingest report figures from CSV or Excel: validate every row with pandas, then write all or
nothing.

The file format is the one `data/facts.csv` uses (see the README): one row per figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .db import SHIPPED, Store, now_iso
from .models import QUALIFIERS, Period
from .numbers import human_number, pct_change, signed_pct
from .vocab import data_dir, known_units

KEY = ["metric", "segment", "platform", "period", "source"]
# The columns of data/facts.csv and of an ingest file, in order.
FACT_COLUMNS = [
    "metric",
    "segment",
    "platform",
    "period",
    "value",
    "qualifier",
    "unit",
    "source",
    "stated_pct",
    "note",
    "note_zh",
]
REQUIRED = ["metric", "segment", "period", "value", "unit", "source"]
OPTIONAL = ["platform", "qualifier", "stated_pct", "note", "note_zh"]
SOURCE_COLUMNS = {  # column in a facts file -> column of the sources table
    "source_title": "title",
    "source_title_zh": "title_zh",
    "source_publisher": "publisher",
    "source_publisher_zh": "publisher_zh",
    "source_published": "published",
    "source_article": "article",
    "source_url": "url",
}
SOURCE_FIELDS = [
    "id",
    "title",
    "title_zh",
    "publisher",
    "publisher_zh",
    "published",
    "article",
    "url",
]
MAX_ERRORS_SHOWN = 20
GROWTH_TOLERANCE_PP = 0.15  # stated growth is usually rounded to one decimal


class IngestError(Exception):
    """The file was rejected; nothing was written."""

    def __init__(self, message: str, errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

    def report(self) -> str:
        lines = [str(self)]
        for row, reason in self.errors[:MAX_ERRORS_SHOWN]:
            lines.append(f"  row {row}: {reason}" if row else f"  {reason}")
        if len(self.errors) > MAX_ERRORS_SHOWN:
            lines.append(f"  … and {len(self.errors) - MAX_ERRORS_SHOWN} more")
        return "\n".join(lines)


@dataclass
class IngestResult:
    file: str
    rows: int
    added: int
    updated: int
    unchanged: int
    warnings: list[str] = field(default_factory=list)
    new_periods: list[str] = field(default_factory=list)  # periods newer than any stored before
    periods: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.file}: {self.rows} rows — {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        if self.new_periods:
            shown = self.new_periods
            if len(shown) > 6:
                shown = [*shown[:3], "…", shown[-1]]
            text += f"; new period(s): {', '.join(shown)}"
        return text


# -- reading ------------------------------------------------------------------------------


def read_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The facts table (and an Excel workbook's optional `sources` sheet), all as text."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            facts = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            return facts, None
        if suffix in (".xlsx", ".xlsm"):
            sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
            names = {name.strip().lower(): name for name in sheets}
            facts = sheets[names["facts"]] if "facts" in names else next(iter(sheets.values()))
            sources = sheets[names["sources"]] if "sources" in names else None
            return facts, sources
    except FileNotFoundError:
        raise IngestError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, KeyError, StopIteration) as e:
        raise IngestError(f"{path.name}: cannot read it as {suffix[1:].upper()}: {e}") from None
    except Exception as e:  # openpyxl raises its own zoo of errors for a broken workbook
        raise IngestError(f"{path.name}: cannot read it: {type(e).__name__}: {e}") from None
    raise IngestError(
        f"{path.name}: unsupported file type {suffix or '(none)'} (use .csv or .xlsx)"
    )


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.columns = [str(c).strip().lower().replace(" ", "_") for c in df.columns]
    df = df.loc[:, ~df.columns.duplicated()]
    for col in df.columns:
        df[col] = df[col].fillna("").astype(str).str.strip()
    return df


def _on_uniques(series: pd.Series, fn) -> pd.Series:
    """Apply a string transform to each distinct value once (a 1M-row file has few)."""
    codes, uniques = pd.factorize(series)
    mapped = fn(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    out = pd.Series(mapped[codes], index=series.index, dtype=object)
    return out.where(codes >= 0)


def _keys(series: pd.Series) -> pd.Series:
    return _on_uniques(series, lambda u: u.str.lower().str.replace(r"[\s\-]+", "_", regex=True))


# -- validating ---------------------------------------------------------------------------


def _period_labels(raw: pd.Series) -> pd.Series:
    """2019Q3 / 2019 Q3 / Q3 2019 / 2019-Q3 → "2019Q3"; anything else → NaN."""
    return _on_uniques(raw, _period_labels_of)


def _period_labels_of(raw: pd.Series) -> pd.Series:
    s = raw.str.upper().str.replace(r"[\s\-_/]", "", regex=True)
    a = s.str.extract(r"^(?P<y>\d{4})Q(?P<q>[1-4])$")
    b = s.str.extract(r"^Q(?P<q>[1-4])(?P<y>\d{4})$")
    y = a["y"].fillna(b["y"])
    q = a["q"].fillna(b["q"])
    return (y + "Q" + q).where(y.notna() & q.notna())


def _valid_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def validate(
    store: Store, raw: pd.DataFrame, raw_sources: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, list[dict], list[tuple[int, str]]]:
    """Check every row; return clean rows, the sources the file defines, and every error."""
    df = _clean(raw)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise IngestError(
            f"missing column(s): {', '.join(missing)} (need {', '.join(REQUIRED)}; "
            f"optional {', '.join(OPTIONAL)})"
        )
    if df.empty:
        raise IngestError("the file has no rows")
    for col in OPTIONAL:
        if col not in df.columns:
            df[col] = ""
    errors: list[tuple[int, str]] = []
    row_no = pd.Series(np.arange(len(df)) + 2, index=df.index)  # header is row 1

    def flag(mask: pd.Series, reason) -> None:
        for idx in df.index[mask.to_numpy()]:
            errors.append((int(row_no[idx]), reason(df.loc[idx]) if callable(reason) else reason))

    for col in ("metric", "segment", "source"):
        flag(df[col] == "", f"missing {col}")
    for col in ("metric", "segment", "platform"):
        df[col] = _keys(df[col])
        bad = (df[col] != "") & ~df[col].str.fullmatch(r"[a-z][a-z0-9_]*")
        flag(bad, lambda r, c=col: f"bad {c} {r[c]!r} (letters, digits, spaces or _)")

    labels = _period_labels(df["period"])
    flag(labels.isna(), lambda r: f"bad period {r['period']!r} (use 2019Q3)")
    df["period"] = labels.fillna("")

    numbers = pd.to_numeric(df["value"].str.replace(r"[,\s_]", "", regex=True), errors="coerce")
    bad_value = numbers.isna() | ~np.isfinite(numbers.fillna(0.0))
    flag(bad_value & (df["value"] == ""), "missing value")
    flag(bad_value & (df["value"] != ""), lambda r: f"value is not a number: {r['value']!r}")
    df["value"] = numbers

    df["qualifier"] = df["qualifier"].replace("", "=")
    flag(
        ~df["qualifier"].isin(QUALIFIERS),
        lambda r: f"unknown qualifier {r['qualifier']!r} (use = > < ~)",
    )

    units = known_units()
    df["unit"] = df["unit"].str.lower()
    flag(
        ~df["unit"].isin(units),
        lambda r: f"unknown unit {r['unit']!r} (known: {', '.join(sorted(units))})",
    )

    stated = pd.to_numeric(df["stated_pct"].str.rstrip("%"), errors="coerce")
    flag(
        stated.isna() & (df["stated_pct"] != ""),
        lambda r: f"stated_pct is not a number: {r['stated_pct']!r}",
    )
    df["stated_pct"] = stated

    sources, source_errors = _file_sources(df, raw_sources, row_no)
    errors.extend(source_errors)
    known = {r[0] for r in store.conn.execute("SELECT id FROM sources")} | {
        s["id"] for s in sources
    }
    flag(
        (df["source"] != "") & ~df["source"].isin(known),
        lambda r: (
            f"unknown source {r['source']!r}: define it with source_title, "
            "source_publisher and source_published columns"
        ),
    )

    dup = df.duplicated(subset=KEY, keep="first") & (df["period"] != "")
    if dup.any():
        first = df.drop_duplicates(subset=KEY, keep="first").set_index(KEY).index
        first_rows = dict(zip(first, row_no[~df.duplicated(subset=KEY, keep="first")], strict=True))
        flag(
            dup,
            lambda r: (
                "the same figure again (first at row "
                f"{first_rows.get(tuple(r[k] for k in KEY), '?')})"
            ),
        )

    errors.sort(key=lambda e: e[0])
    return df, sources, errors


def _file_sources(
    df: pd.DataFrame, raw_sources: pd.DataFrame | None, row_no: pd.Series
) -> tuple[list[dict], list[tuple[int, str]]]:
    """Sources a file defines: a `sources` sheet, or source_* columns beside each figure."""
    errors: list[tuple[int, str]] = []
    found: dict[str, dict] = {}
    if raw_sources is not None:
        sheet = _clean(raw_sources)
        for i, rec in enumerate(sheet.to_dict("records")):
            rec = {k: rec.get(k, "") for k in SOURCE_FIELDS}
            found[rec["id"]] = rec | {"_row": f"sources sheet row {i + 2}"}
    cols = [c for c in SOURCE_COLUMNS if c in df.columns]
    if cols:
        defined = df[df["source_title"] != ""] if "source_title" in df.columns else df.iloc[0:0]
        for idx, group in defined.groupby("source", sort=False):
            first = group.iloc[0]
            rec = {"id": idx} | {SOURCE_COLUMNS[c]: first[c] for c in cols}
            rec = {k: rec.get(k, "") for k in SOURCE_FIELDS}
            found[idx] = rec | {"_row": int(row_no[group.index[0]])}
            for c in cols:
                if group[c].nunique() > 1:
                    errors.append(
                        (
                            int(row_no[group.index[0]]),
                            f"source {idx!r} has different {c} values in one file",
                        )
                    )
    sources = []
    for rec in found.values():
        where = rec.pop("_row")
        row = where if isinstance(where, int) else 0
        prefix = "" if row else f"{where}: "
        if not rec["id"]:
            errors.append((row, f"{prefix}source without an id"))
        for need in ("title", "publisher", "published"):
            if not rec[need]:
                errors.append((row, f"{prefix}source {rec['id']!r} has no {need}"))
        if rec["published"] and not _valid_date(rec["published"]):
            errors.append(
                (
                    row,
                    f"{prefix}source {rec['id']!r}: published "
                    f"{rec['published']!r} is not a date like 2019-11-11",
                )
            )
        sources.append(rec)
    return sources, errors


def _columns(df: pd.DataFrame, cols: list[str]) -> Iterator[tuple]:
    """Rows as plain tuples, column-wise (pandas' itertuples reads string columns cell by cell)."""
    return zip(*(df[c].to_numpy(dtype=object).tolist() for c in cols), strict=True)


def _growth_warnings(store: Store, df: pd.DataFrame, row_no: pd.Series) -> list[str]:
    """Compare each stated growth rate with the one recomputed from stored endpoints."""
    stated = df[df["stated_pct"].notna()]
    if stated.empty:
        return []
    # Only the stated rows need their previous quarter: index the file once, by series.
    key_cols = ["metric", "segment", "platform", "period", "value", "qualifier"]
    in_file: dict[tuple, tuple] = {}
    for m, s, p, per, value, qual in _columns(df, key_cols):
        in_file.setdefault((m, s, p, per), (value, qual))
    warnings = []
    for idx, (m, s, p, per, value, qual, pct) in zip(
        stated.index, _columns(stated, [*key_cols, "stated_pct"]), strict=True
    ):
        prev = Period.parse(per).previous()
        before = in_file.get((m, s, p, prev.label))
        if before is None:
            fact = store.fact(m, s, p or None, prev)
            before = (fact.value, fact.qualifier) if fact else None
        if before is None or before[0] == 0 or before[1] != "=" or qual != "=":
            continue
        recomputed = pct_change(before[0], value)
        if abs(recomputed - pct) > GROWTH_TOLERANCE_PP:
            warnings.append(
                f"row {row_no[idx]}: stated growth {signed_pct(pct)} for {m} of {s} in {per}, "
                f"but {human_number(before[0])} → {human_number(value)} is "
                f"{signed_pct(recomputed)}"
            )
    return warnings


# -- writing ------------------------------------------------------------------------------

_INCOMING = """CREATE TEMP TABLE IF NOT EXISTS incoming (
    metric TEXT, segment TEXT, platform TEXT, period TEXT, value REAL, qualifier TEXT,
    unit TEXT, source TEXT, stated_pct REAL, note TEXT, note_zh TEXT,
    PRIMARY KEY (metric, segment, platform, period, source)) WITHOUT ROWID"""
_SAME = (
    "f.value = i.value AND f.qualifier = i.qualifier AND f.unit = i.unit "
    "AND f.note = i.note AND f.note_zh = i.note_zh AND f.stated_pct IS i.stated_pct"
)


def _write(
    store: Store,
    df: pd.DataFrame,
    sources: list[dict],
    file_label: str,
    overwrite_ingested: bool = True,
) -> tuple[int, int, int]:
    """Upsert sources and facts (inside the caller's transaction); return counts."""
    conn = store.conn
    for rec in sources:
        conn.execute(
            f"INSERT INTO sources ({', '.join(SOURCE_FIELDS)}) VALUES "
            f"({', '.join('?' * len(SOURCE_FIELDS))}) ON CONFLICT(id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in SOURCE_FIELDS[1:]),
            [rec[c] for c in SOURCE_FIELDS],
        )
    conn.execute(_INCOMING)
    conn.execute("DELETE FROM incoming")
    stated = df["stated_pct"].astype(object).where(df["stated_pct"].notna(), None)
    values = _columns(df.assign(stated_pct=stated), FACT_COLUMNS)
    conn.executemany(f"INSERT INTO incoming VALUES ({', '.join('?' * len(FACT_COLUMNS))})", values)
    join = (
        "FROM incoming i JOIN facts f ON f.metric = i.metric AND f.segment = i.segment "
        "AND f.platform = i.platform AND f.period = i.period AND f.source = i.source"
    )
    guard = "" if overwrite_ingested else f" AND f.file = '{SHIPPED}'"
    unchanged = conn.execute(f"SELECT count(*) {join} WHERE {_SAME}").fetchone()[0]
    changed = conn.execute(f"SELECT count(*) {join} WHERE NOT ({_SAME}){guard}").fetchone()[0]
    total = len(df)
    kept = conn.execute(f"SELECT count(*) {join}").fetchone()[0] - unchanged - changed
    at = now_iso()
    conn.execute(
        "INSERT INTO revisions SELECT i.metric, i.segment, i.platform, i.period, i.source, "
        f"f.value, f.qualifier, i.value, i.qualifier, ?, ? {join} "
        f"WHERE (f.value != i.value OR f.qualifier != i.qualifier){guard}",
        (file_label, at),
    )
    set_cols = ["value", "qualifier", "unit", "stated_pct", "note", "note_zh"]
    conn.execute(
        f"INSERT INTO facts ({', '.join(FACT_COLUMNS)}, file, updated_at) "
        f"SELECT {', '.join(FACT_COLUMNS)}, ?, ? FROM incoming WHERE true "
        "ON CONFLICT(metric, segment, platform, period, source) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in set_cols)
        + ", file = excluded.file, updated_at = excluded.updated_at "
        "WHERE NOT (facts.value = excluded.value AND facts.qualifier = excluded.qualifier "
        "AND facts.unit = excluded.unit AND facts.note = excluded.note "
        "AND facts.note_zh = excluded.note_zh AND facts.stated_pct IS excluded.stated_pct)"
        + ("" if overwrite_ingested else f" AND facts.file = '{SHIPPED}'"),
        (file_label, at),
    )
    conn.execute("DELETE FROM incoming")
    added = total - unchanged - changed - kept
    return added, changed, unchanged + kept


def _newest_by_segment(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT segment, max(last_period) FROM series GROUP BY segment"))


def ingest_frames(
    store: Store, raw: pd.DataFrame, raw_sources: pd.DataFrame | None, file_label: str
) -> IngestResult:
    """Validate then write one table of figures in a single transaction."""
    df, sources, errors = validate(store, raw, raw_sources)
    if errors:
        raise IngestError(f"{file_label}: {len(errors)} problem(s); nothing was changed", errors)
    row_no = pd.Series(np.arange(len(df)) + 2, index=df.index)
    warnings = _growth_warnings(store, df, row_no)
    before = _newest_by_segment(store)
    with store.transaction():
        added, updated, unchanged = _write(store, df, sources, file_label)
        store.rebuild_series()
    periods = sorted(set(df["period"]))
    newest = max(before.values(), default="")
    new_periods = [p for p in periods if p > newest]
    return IngestResult(
        file_label, len(df), added, updated, unchanged, warnings, new_periods, periods
    )


def ingest_file(store: Store, path: Path | str) -> IngestResult:
    """Ingest a CSV or XLSX file of figures: all rows or none."""
    path = Path(path)
    raw, raw_sources = read_table(path)
    return ingest_frames(store, raw, raw_sources, path.name)


def load_shipped(store: Store, digest: str) -> None:
    """(Re)load data/ into the store; figures corrected by an ingested file stay as they are."""
    folder = data_dir()
    read = lambda name: pd.read_csv(folder / name, dtype=str, keep_default_na=False)  # noqa: E731
    sources = _clean(read("sources.csv"))
    facts, shipped_sources, errors = validate(store, read("facts.csv"), sources)
    if errors:
        raise IngestError("the shipped data/facts.csv is invalid", errors)
    notes = read("notes.csv")
    with store.transaction() as conn:
        conn.execute(f"DELETE FROM facts WHERE file = '{SHIPPED}'")
        _write(store, facts, shipped_sources, SHIPPED, overwrite_ingested=False)
        conn.execute(
            "DELETE FROM notes WHERE source IN (SELECT value FROM json_each(?))",
            (pd.Series(sources["id"]).to_json(orient="values"),),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)",
            notes[
                ["segment", "period", "topic", "ordinal", "text_en", "text_zh", "source"]
            ].itertuples(index=False, name=None),
        )
        store.rebuild_series()
        store.set_meta("shipped_hash", digest)
