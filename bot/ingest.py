"""Ingest report figures from CSV or Excel: check every row, preview, then write all or nothing.

`plan_ingest` reads and validates a file with pandas and stages its rows in a private SQLite
file, comparing them with the store (read-only): it writes nothing to the store and returns an
`IngestPlan` a curator can preview. `apply_ingest` writes the staged rows in short
transactions that readers see as one (`Store.swap_in`), so nobody waits long on the store's
write lock.

The file format is the one `data/facts.csv` uses (see the README): one row per figure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
import urllib.parse
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from .db import FACT_FIELDS, SOURCE_FIELDS, StaleStore, Store, StoreBusy
from .errors import IngestError
from .models import QUALIFIERS, Period
from .numbers import human_number, pct_change, signed_pct
from .readers import ROW, ReadError, read_table
from .vocab import is_cjk, known_units

KEY = ["metric", "segment", "platform", "period", "source"]
SERIES = ["metric", "segment", "platform"]
FACT_COLUMNS = list(FACT_FIELDS)
REQUIRED = ["metric", "segment", "period", "value", "unit", "source"]
OPTIONAL = ["platform", "qualifier", "stated_pct", "note", "note_zh"]
KEY_KINDS = ("metric", "segment", "platform")
# A new key is declared by giving both display names on its rows: segment_en + segment_zh.
NAME_COLUMNS = [f"{kind}_{lang}" for kind in KEY_KINDS for lang in ("en", "zh")]
SOURCE_COLUMNS = {  # column in a facts file -> column of the sources table
    "source_title": "title",
    "source_title_zh": "title_zh",
    "source_publisher": "publisher",
    "source_publisher_zh": "publisher_zh",
    "source_published": "published",
    "source_article": "article",
    "source_url": "url",
}
# A curator's review column (from `marketbot extract`): an empty cell counts as yes, and
# anything else that is neither yes nor no is refused rather than guessed.
ACCEPT_YES = frozenset({"", "yes", "y", "true", "1", "是"})
ACCEPT_NO = frozenset({"no", "n", "false", "0", "否"})
SOURCE_IDENTITY = ("title", "publisher", "published")  # changing these needs --replace-source
MAX_CONFLICTS_LISTED = 20
SAMPLE_ROWS = 5
GROWTH_TOLERANCE_PP = 0.15  # stated growth is usually rounded to one decimal
DID_YOU_MEAN_CUTOFF = 60


def rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class NewKey:
    kind: str  # metric, segment or platform
    key: str
    en: str = ""  # display names, when the file declares them
    zh: str = ""


@dataclass
class IngestPlan:
    """What ingesting a file would do, checked against the store; nothing written yet."""

    file: str
    rows: int = 0  # rows to ingest (skipped rows not counted)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # rows marked accept = no
    periods: list[str] = field(default_factory=list)
    new_periods: list[str] = field(default_factory=list)  # newer than any stored before
    new_keys: list[NewKey] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # conflicts, stated growth mismatches
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    samples: list[dict] = field(default_factory=list)  # the first few figures
    conflicts: int = 0
    replaced_sources: list[str] = field(default_factory=list)
    _staging: Path | None = field(default=None, repr=False)
    _generation: int = field(default=0, repr=False)
    _sources: list[dict] = field(default_factory=list, repr=False)
    _cleanup: weakref.finalize | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = (
            f"{self.file}: {rows(self.rows)} — {self.added:,} added, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged"
        )
        if self.skipped:
            text += f", {self.skipped:,} skipped"
        if self.new_periods:
            shown = self.new_periods
            if len(shown) > 6:
                shown = [*shown[:3], "…", shown[-1]]
            text += f"; new period{'s' if len(self.new_periods) > 1 else ''}: {', '.join(shown)}"
        return text

    def preview(self) -> str:
        """Summary, new keys, warnings and sample figures: what `ingest --dry-run` prints."""
        lines = [self.summary()]
        if self.new_keys:
            lines.append(
                "new keys: "
                + ", ".join(
                    f"{k.kind} {k.key}" + (f" ({k.en} / {k.zh})" if k.en else "")
                    for k in self.new_keys
                )
            )
        if self.replaced_sources:
            lines.append(f"sources replaced: {', '.join(self.replaced_sources)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.samples:
            lines.append("first figures:")
            for r in self.samples:
                where = " ".join(x for x in (r["segment"], r["platform"], r["metric"]) if x)
                q = "" if r["qualifier"] == "=" else r["qualifier"]
                lines.append(
                    f"  row {r['row']}: {where} {r['period']} = {q}{human_number(r['value'])} "
                    f"{r['unit']} ({r['source']})"
                )
        return "\n".join(lines)

    def discard(self) -> None:
        """Remove the staged rows (also done when the plan is garbage-collected)."""
        if self._cleanup is not None:
            self._cleanup()


IngestResult = IngestPlan  # what ingest_file returns: the plan, applied


# -- validating ---------------------------------------------------------------------------


def _on_uniques(series: pd.Series, fn) -> pd.Series:
    """Apply a string transform to each distinct value once (a 1M-row file has few)."""
    codes, uniques = pd.factorize(series)
    mapped = fn(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    out = pd.Series(mapped[codes], index=series.index, dtype=object)
    return out.where(codes >= 0)


def _keys(series: pd.Series) -> pd.Series:
    return _on_uniques(series, lambda u: u.str.lower().str.replace(r"[\s\-]+", "_", regex=True))


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


class _Checks:
    """Collects (row, reason) errors over a table whose `_row` holds file row numbers."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.errors: list[tuple[int, str]] = []

    def flag(self, mask: pd.Series, reason) -> None:
        df = self.df
        for idx in df.index[mask.to_numpy()]:
            text = reason(df.loc[idx]) if callable(reason) else reason
            self.errors.append((int(df.at[idx, ROW]), text))


@dataclass
class _Checked:
    df: pd.DataFrame
    sources: list[dict]
    replaced: list[str]
    new_keys: list[NewKey]
    errors: list[tuple[int, str]]
    skipped: int


def validate(
    store: Store,
    raw: pd.DataFrame,
    raw_sources: pd.DataFrame | None = None,
    *,
    new_keys: bool = False,
    replace_source: bool = False,
) -> _Checked:
    """Check every row; return clean rows, the sources and keys the file defines, and errors."""
    df = raw.copy()
    if ROW not in df.columns:  # a frame built in code: the header is row 1
        df.columns = [str(c).strip().lower().replace(" ", "_") for c in df.columns]
        df = df.fillna("").astype(str).apply(lambda col: col.str.strip())
        df.insert(0, ROW, np.arange(len(df)) + 2)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise IngestError(
            f"missing column(s): {', '.join(missing)} (need {', '.join(REQUIRED)}; "
            f"optional {', '.join(OPTIONAL)})"
        )
    skipped = 0
    if "accept" in df.columns:  # a curator's review column: "no" rows are left out
        no = df["accept"].str.strip().str.lower().isin(ACCEPT_NO)
        skipped = int(no.sum())
        df = df[~no]
    if df.empty:
        raise IngestError("the file has no rows" + (" to accept" if skipped else ""))
    for col in [*OPTIONAL, *NAME_COLUMNS]:
        if col not in df.columns:
            df[col] = ""
    checks = _Checks(df)
    flag = checks.flag
    if "accept" in df.columns:  # "n" or "nope" must not import a figure the curator rejected
        flag(
            ~df["accept"].str.strip().str.lower().isin(ACCEPT_YES),
            lambda r: f"accept must be yes or no, not {r['accept']!r}",
        )

    for col in ("metric", "segment", "source"):
        flag(df[col] == "", f"missing {col}")
    for col in KEY_KINDS:
        df[col] = _keys(df[col])
        ok = _on_uniques(df[col], lambda u: u.str.fullmatch(r"[a-z][a-z0-9_]*")).astype(bool)
        bad = (df[col] != "") & ~ok
        flag(bad, lambda r, c=col: f"bad {c} {r[c]!r} (letters, digits, spaces or _)")
    declared = _check_keys(store, df, checks, allow_new=new_keys)

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

    sources, replaced = _file_sources(store, df, raw_sources, checks, replace_source)
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
        firsts = df[~df.duplicated(subset=KEY, keep="first")]
        first_rows = dict(zip(firsts.set_index(KEY).index, firsts[ROW], strict=True))
        flag(
            dup,
            lambda r: (
                f"the same figure again (first at row {first_rows.get(tuple(r[k] for k in KEY), '?')})"
            ),
        )

    checks.errors.sort(key=lambda e: e[0])
    return _Checked(df, sources, replaced, declared, checks.errors, skipped)


def _known_keys(store: Store, kind: str) -> set[str]:
    known = {key for (k, key) in store.vocabulary.labels if k == kind}
    known |= {k for (k,) in store.conn.execute(f"SELECT DISTINCT {kind} FROM series") if k}
    return known


def _check_keys(store: Store, df: pd.DataFrame, checks: _Checks, allow_new: bool) -> list[NewKey]:
    """Refuse keys the store does not know unless the file declares them (or --new-keys)."""
    new: list[NewKey] = []
    for kind in KEY_KINDS:
        known = _known_keys(store, kind)
        col = df[kind]
        unknown = sorted(set(col.unique()) - known - {""})
        if not unknown:
            continue
        names = df.loc[col.isin(unknown), [kind, f"{kind}_en", f"{kind}_zh"]]
        names = names[(names[f"{kind}_en"] != "") & (names[f"{kind}_zh"] != "")]
        named = {k: (en, zh) for k, en, zh in names.drop_duplicates(kind).itertuples(index=False)}
        choices = sorted(known)
        refused = {}
        vocab = store.vocabulary
        for key in unknown:
            if key in named:
                clash = _name_clash(vocab, kind, key, *named[key])
                if clash:
                    refused[key] = clash
                    continue
                new.append(NewKey(kind, key, *named[key]))
            elif allow_new:
                new.append(NewKey(kind, key))
            else:
                refused[key] = _unknown_key_reason(kind, key, choices)
        if refused:
            checks.flag(col.isin(refused), lambda r, k=kind, why=refused: why[r[k]])
    return new


def _name_clash(vocab, kind: str, key: str, en: str, zh: str) -> str | None:
    """Why a declared name cannot be used: it means another key already, or is not Chinese."""
    for name in (en, zh):
        meaning = vocab.meaning(name)
        if meaning is not None and (meaning.kind, meaning.key) != (kind, key):
            return f"{kind} name {name!r} already means {meaning.kind} {meaning.key}"
    if not any(is_cjk(c) for c in zh):
        return f"{kind}_zh {zh!r} has no Chinese characters"
    return None


def _unknown_key_reason(kind: str, key: str, choices: list[str]) -> str:
    match = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=DID_YOU_MEAN_CUTOFF)
    if match:
        return f"{key}: unknown {kind}; did you mean {match[0]}?"
    return (
        f"{key}: unknown {kind} (a new one needs {kind}_en and {kind}_zh names in the file, "
        "or --new-keys)"
    )


def _file_sources(
    store: Store,
    df: pd.DataFrame,
    raw_sources: pd.DataFrame | None,
    checks: _Checks,
    replace_source: bool,
) -> tuple[list[dict], list[str]]:
    """Sources a file defines: a `sources` sheet, or source_* columns beside each figure."""
    errors = checks.errors
    found: dict[str, dict] = {}
    if raw_sources is not None:
        sheet = raw_sources.copy()
        if ROW not in sheet.columns:
            sheet.insert(0, ROW, np.arange(len(sheet)) + 2)
        for rec in sheet.to_dict("records"):
            where = f"sources sheet row {rec[ROW]}"
            rec = {k: str(rec.get(k, "") or "") for k in SOURCE_FIELDS}
            found[rec["id"]] = rec | {"_row": where}
    cols = [c for c in SOURCE_COLUMNS if c in df.columns]
    if cols:
        defined = df[df["source_title"] != ""] if "source_title" in df.columns else df.iloc[0:0]
        for idx, group in defined.groupby("source", sort=False):
            first = group.iloc[0]
            rec = {"id": idx} | {SOURCE_COLUMNS[c]: first[c] for c in cols}
            rec = {k: rec.get(k, "") for k in SOURCE_FIELDS}
            found[idx] = rec | {"_row": int(first[ROW])}
            for c in cols:
                if group[c].nunique() > 1:
                    errors.append(
                        (int(first[ROW]), f"source {idx!r} has different {c} values in one file")
                    )
    sources, replaced = [], []
    for rec in found.values():
        where = rec.pop("_row")
        row = where if isinstance(where, int) else 0
        prefix = "" if row else f"{where}: "
        if not rec["id"]:
            errors.append((row, f"{prefix}source without an id"))
        for need in SOURCE_IDENTITY:
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
        stored = store.conn.execute(
            f"SELECT {', '.join(SOURCE_FIELDS)} FROM sources WHERE id = ?", (rec["id"],)
        ).fetchone()
        if stored is not None:
            old = dict(zip(SOURCE_FIELDS, stored, strict=True))
            changed = [c for c in SOURCE_IDENTITY if rec[c] and rec[c] != old[c]]
            if changed and not replace_source:
                what = "; ".join(f"{c} {old[c]!r} → {rec[c]!r}" for c in changed)
                errors.append(
                    (
                        row,
                        f"{prefix}source {rec['id']!r} already exists and this file changes it "
                        f"({what}); use a new source id, or --replace-source",
                    )
                )
            elif changed:
                replaced.append(rec["id"])
            # Columns the file leaves empty keep their stored values.
            rec = {c: rec[c] or old[c] for c in SOURCE_FIELDS}
        sources.append(rec)
    return sources, replaced


def _columns(df: pd.DataFrame, cols: list[str]) -> Iterator[tuple]:
    """Rows as plain tuples, column-wise (pandas' itertuples reads string columns cell by cell)."""
    return zip(*(df[c].to_numpy(dtype=object).tolist() for c in cols), strict=True)


def _growth_warnings(store: Store, df: pd.DataFrame) -> list[str]:
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
    for row, m, s, p, per, value, qual, pct in _columns(stated, [ROW, *key_cols, "stated_pct"]):
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
                f"row {row}: stated growth {signed_pct(pct)} for {m} of {s} in {per}, "
                f"but {human_number(before[0])} → {human_number(value)} is "
                f"{signed_pct(recomputed)}"
            )
    return warnings


# -- staging --------------------------------------------------------------------------------

_STAGING_SCHEMA = """
CREATE TABLE incoming (
    metric TEXT, segment TEXT, platform TEXT, period TEXT, value REAL, qualifier TEXT,
    unit TEXT, source TEXT, stated_pct REAL, note TEXT, note_zh TEXT, file_row INTEGER,
    status TEXT NOT NULL DEFAULT 'added',
    PRIMARY KEY (metric, segment, platform, period, source)) WITHOUT ROWID;
"""
_SAME = (
    "f.value = incoming.value AND f.qualifier = incoming.qualifier AND f.unit = incoming.unit "
    "AND f.note = incoming.note AND f.note_zh = incoming.note_zh "
    "AND f.stated_pct IS incoming.stated_pct"
)
_MATCH = (
    "f.metric = incoming.metric AND f.segment = incoming.segment "
    "AND f.platform = incoming.platform AND f.period = incoming.period"
)


def _stage(store: Store, df: pd.DataFrame, plan: IngestPlan) -> None:
    """Write the rows to a private SQLite file and compare them with the store (read-only)."""
    fd, name = tempfile.mkstemp(prefix="marketbot-staging-", suffix=".db")
    os.close(fd)
    staging = Path(name)
    plan._staging = staging
    plan._cleanup = weakref.finalize(plan, _remove, staging)
    conn = sqlite3.connect(_uri(staging), uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: no need to survive a crash
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(_STAGING_SCHEMA)
        stated = df["stated_pct"].astype(object).where(df["stated_pct"].notna(), None)
        ordered = df.assign(stated_pct=stated).sort_values(KEY)
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO incoming VALUES ({', '.join('?' * (len(FACT_COLUMNS) + 1))}, 'added')",
            _columns(ordered, [*FACT_COLUMNS, ROW]),
        )
        conn.execute("COMMIT")
        if str(store.path) == ":memory:":
            raise IngestError("an in-memory store cannot be staged against")
        conn.execute("ATTACH DATABASE ? AS store", (_uri(store.path) + "?mode=ro",))
        conn.execute("BEGIN")  # one read snapshot of the store for every comparison below
        plan._generation = int(
            (
                conn.execute(
                    "SELECT value FROM store.meta WHERE key = 'facts_generation'"
                ).fetchone()
                or (0,)
            )[0]
        )
        conn.execute(
            "UPDATE incoming SET status = coalesce((SELECT CASE WHEN "
            f"{_SAME} THEN 'unchanged' ELSE 'updated' END FROM store.facts f WHERE {_MATCH} "
            "AND f.source = incoming.source), 'added')"
        )
        # What the swap writes, split here outside the write lock: new figures in key order
        # (written in chunks by rowid) and changed ones.
        for table, status in (("added", "added"), ("changed", "updated")):
            conn.execute(
                f"CREATE TABLE {table} AS SELECT {', '.join(FACT_COLUMNS)} FROM incoming "
                f"WHERE status = '{status}' ORDER BY {', '.join(KEY)}"
            )
        counts = dict(conn.execute("SELECT status, count(*) FROM incoming GROUP BY status"))
        plan.added = counts.get("added", 0)
        plan.updated = counts.get("updated", 0)
        plan.unchanged = counts.get("unchanged", 0)
        # The series catalogue rows this file changes, computed here, outside the write lock.
        conn.execute(
            "CREATE TABLE series_new AS SELECT metric, segment, platform, max(unit) AS unit, "
            "min(period) AS first_period, max(period) AS last_period, "
            "count(DISTINCT period) AS periods FROM ("
            "SELECT metric, segment, platform, period, unit FROM incoming UNION ALL "
            "SELECT f.metric, f.segment, f.platform, f.period, f.unit FROM store.facts f "
            "JOIN (SELECT DISTINCT metric, segment, platform FROM incoming) k "
            "ON f.metric = k.metric AND f.segment = k.segment AND f.platform = k.platform"
            ") GROUP BY metric, segment, platform"
        )
        plan.conflicts, plan.warnings[:0] = _conflicts(conn)
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE store")
    except BaseException:
        conn.close()
        plan.discard()
        raise
    conn.close()


def _conflicts(conn: sqlite3.Connection) -> tuple[int, list[str]]:
    """Figures another source gives differently for the same series and period."""
    query = (
        "FROM incoming JOIN store.facts f ON " + _MATCH + " AND f.source != incoming.source "
        "AND (f.value != incoming.value OR f.qualifier != incoming.qualifier) "
        "JOIN store.sources s ON s.id = f.source"
    )
    total = conn.execute(f"SELECT count(*) {query}").fetchone()[0]
    listed = conn.execute(
        "SELECT incoming.file_row, incoming.metric, incoming.segment, incoming.platform, "
        "incoming.period, incoming.qualifier, incoming.value, s.title, s.published, "
        f"f.qualifier, f.value {query} ORDER BY incoming.file_row LIMIT ?",
        (MAX_CONFLICTS_LISTED,),
    ).fetchall()
    warnings = []
    for row, m, s, p, per, q, v, title, published, fq, fv in listed:
        mine = ("" if q == "=" else q) + human_number(v)
        theirs = ("" if fq == "=" else fq) + human_number(fv)
        where = f"{m} of {s}" + (f" on {p}" if p else "")
        warnings.append(
            f"row {row}: conflict: {where} in {per} is {mine} here, but {title} "
            f"({published}) gives {theirs}; both are kept, the newer publication is answered"
        )
    if total > len(listed):
        warnings.append(f"… and {total - len(listed):,} more conflicts")
    return total, warnings


def _uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path.resolve()))


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# -- the API ---------------------------------------------------------------------------------


def plan_frames(
    store: Store,
    raw: pd.DataFrame,
    raw_sources: pd.DataFrame | None,
    file_label: str,
    *,
    new_keys: bool = False,
    replace_source: bool = False,
) -> IngestPlan:
    """Validate a table of figures and stage it; the store is only read."""
    checked = validate(store, raw, raw_sources, new_keys=new_keys, replace_source=replace_source)
    df = checked.df
    plan = IngestPlan(
        file_label,
        rows=len(df),
        skipped=checked.skipped,
        errors=checked.errors,
        new_keys=checked.new_keys,
        replaced_sources=checked.replaced,
        _sources=checked.sources,
    )
    if plan.errors:
        return plan
    plan.warnings = _growth_warnings(store, df)
    plan.periods = sorted(set(df["period"]))
    newest = store.newest_period()
    plan.new_periods = [p for p in plan.periods if newest is None or p > newest.label]
    plan.samples = [
        {
            "row": int(r[ROW]),
            **{c: r[c] for c in ("metric", "segment", "platform", "period", "qualifier", "unit")},
            "value": float(r["value"]),
            "source": r["source"],
        }
        for r in df.head(SAMPLE_ROWS).to_dict("records")
    ]
    _stage(store, df, plan)
    return plan


def plan_ingest(
    store: Store, path: Path | str, *, new_keys: bool = False, replace_source: bool = False
) -> IngestPlan:
    """Read and check a CSV or XLSX file against the store, writing nothing to it.

    Row problems come back in ``plan.errors``; a file that cannot be read at all raises
    IngestError. Call ``apply_ingest(store, plan)`` to write it, or ``plan.discard()``.
    """
    path = Path(path)
    try:
        raw, raw_sources = read_table(path)
    except ReadError as e:
        raise IngestError(str(e)) from None
    try:
        return plan_frames(
            store, raw, raw_sources, path.name, new_keys=new_keys, replace_source=replace_source
        )
    except IngestError as e:
        raise IngestError(f"{path.name}: {e}", e.errors) from None


def apply_ingest(store: Store, plan: IngestPlan, *, who: str = "") -> IngestPlan:
    """Write a checked plan in short transactions, seen by readers as one: all of it or nothing.

    ``who`` (a curator, or the shell user) is recorded in the history in the same transaction.
    """
    if plan.errors:
        raise IngestError(
            f"{plan.file}: {len(plan.errors):,} problem{'s' if len(plan.errors) != 1 else ''}; "
            "nothing was changed",
            plan.errors,
        )
    if plan._staging is None or not plan._staging.exists():
        raise IngestError(f"{plan.file}: this preview was already used or discarded")
    terms = [(k.kind, k.key, k.en, k.zh) for k in plan.new_keys if k.en and k.zh]
    revisions = [s for s in plan._sources if s["id"] in plan.replaced_sources]
    try:
        store.swap_in(
            plan._staging,
            file_label=plan.file,
            generation=plan._generation,
            sources=plan._sources,
            source_revisions=revisions,
            terms=terms,
            history=(who, "import", plan.summary()) if who else None,
            added=plan.added,
        )
    except StoreBusy as e:
        raise IngestError(f"{plan.file}: {e}; nothing was changed") from None
    except StaleStore:
        raise IngestError(
            f"{plan.file}: the store changed since it was checked; nothing was changed, "
            "check it again"
        ) from None
    except sqlite3.Error as e:
        raise IngestError(f"{plan.file}: writing failed ({e}); nothing was changed") from None
    finally:
        plan.discard()
    return plan


def ingest_file(
    store: Store,
    path: Path | str,
    *,
    new_keys: bool = False,
    replace_source: bool = False,
    who: str = "",
) -> IngestPlan:
    """Ingest a CSV or XLSX file of figures: all rows or none."""
    for attempt in range(2):
        plan = plan_ingest(store, path, new_keys=new_keys, replace_source=replace_source)
        try:
            return apply_ingest(store, plan, who=who)
        except IngestError as e:
            if attempt or "store changed" not in str(e):
                raise
    raise AssertionError("unreachable")
