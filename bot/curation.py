"""Adding a report file for a curator: a preview that writes nothing, then the import.

An adapter over today's `bot.ingest` functions (validate without writing, then write in one
transaction). The ingest hardening work brings `plan_ingest`/`apply_ingest`; swapping them in
means editing only this module.

Key declarations: a row may carry `metric_en`, `metric_zh`, `segment_en`, `segment_zh`,
`platform_en`, `platform_zh`. They give the display names of that row's key; on import they
become `terms` rows (origin `file`) and the names become phrases people can ask with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import history
from .db import ORIGIN_FILE, ORIGIN_SHIPPED, Store, now_iso
from .format import figure_text
from .ingest import (
    KEY,
    IngestError,
    IngestResult,
    _growth_warnings,
    _newest_by_segment,
    _write,
    read_table,
    validate,
)
from .models import Fact, Period, Source
from .teaching import phrase_form
from .vocab import Term, Vocabulary, is_cjk

DECLARED_KINDS = ("metric", "segment", "platform")
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # bots may download files up to 20 MB
SAMPLE_ROWS = 3


def max_upload_bytes() -> int:
    """The largest file a curator may send: Telegram's limit, or ingest's own when smaller."""
    from . import ingest

    limit = getattr(ingest, "MAX_FILE_BYTES", None)  # arrives with the ingest size guards
    return min(TELEGRAM_DOWNLOAD_LIMIT, limit) if limit else TELEGRAM_DOWNLOAD_LIMIT


@dataclass
class NewKey:
    kind: str
    key: str
    en: str = ""
    zh: str = ""

    @property
    def declared(self) -> bool:
        return bool(self.en or self.zh)


@dataclass
class Preview:
    """What importing a file would do; nothing is written to make it."""

    file: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    periods: list[str] = field(default_factory=list)
    new_periods: list[str] = field(default_factory=list)
    new_keys: list[NewKey] = field(default_factory=list)
    declared: list[NewKey] = field(default_factory=list)  # names the import will store
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the headline when the file is refused
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    samples: list[str] = field(default_factory=list)  # the first figures as answers read

    @property
    def ok(self) -> bool:
        return self.error is None

    def report(self) -> str:
        """The refusal with its row-numbered reasons, as `marketbot ingest` prints it."""
        return IngestError(self.error or "", self.errors).report()

    def text(self) -> str:
        """The preview as plain text lines (the chat escapes it)."""
        if not self.ok:
            return self.report()
        lines = [
            f"{self.file}: {self.rows} rows — {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged",
            f"Periods: {', '.join(self.periods)}"
            + (f" (new: {', '.join(self.new_periods)})" if self.new_periods else " (none new)"),
        ]
        for k in self.new_keys:
            names = " / ".join(n for n in (k.en, k.zh) if n)
            lines.append(
                f"New {k.kind}: {k.key}" + (f" — {names}" if names else " (no names declared)")
            )
        for w in self.warnings:
            lines.append(f"⚠ {w}")
        if self.samples:
            lines.append("First figures, as the bot will answer them:")
            lines.extend(f"• {s}" for s in self.samples)
        return "\n".join(lines)


# -- reading ------------------------------------------------------------------------------


def _declarations(
    store: Store, df: pd.DataFrame, row_no: pd.Series
) -> tuple[list[NewKey], list[tuple[int, str]]]:
    """Names declared by the *_en / *_zh columns; conflicting or clashing names are errors."""
    found: dict[tuple[str, str], tuple[NewKey, int]] = {}
    errors: list[tuple[int, str]] = []
    vocab = store.vocabulary
    for kind in DECLARED_KINDS:
        cols = [c for c in (f"{kind}_en", f"{kind}_zh") if c in df.columns]
        if not cols:
            continue
        for idx in df.index:
            key = df.at[idx, kind]
            en = df.at[idx, f"{kind}_en"] if f"{kind}_en" in df.columns else ""
            zh = df.at[idx, f"{kind}_zh"] if f"{kind}_zh" in df.columns else ""
            if not key or not (en or zh):
                continue
            row = int(row_no[idx])
            seen = found.get((kind, key))
            if seen is None:
                found[(kind, key)] = (NewKey(kind, key, en, zh), row)
            elif (seen[0].en, seen[0].zh) != (en, zh):
                errors.append((row, f"{kind} {key!r} is named differently at row {seen[1]}"))
    declared = []
    for (kind, key), (nk, row) in found.items():
        for name in (nk.en, nk.zh):
            meaning = vocab.meaning(name) if phrase_form(name) else None
            if meaning is not None and meaning != Term(kind, key):
                errors.append(
                    (row, f"{kind} name {name!r} already means {meaning.kind} {meaning.key}")
                )
        if nk.zh and not any(is_cjk(c) for c in nk.zh):
            errors.append((row, f"{kind}_zh {nk.zh!r} has no Chinese characters"))
        declared.append(nk)
    return declared, errors


def _stored_rows(store: Store, df: pd.DataFrame) -> dict[tuple, tuple]:
    """The stored figures of the sources this file touches, by key."""
    sources = sorted(set(df["source"]))
    if not sources:
        return {}
    rows = store.conn.execute(
        "SELECT metric, segment, platform, period, source, value, qualifier, unit, note, "
        f"note_zh, stated_pct FROM facts WHERE source IN ({','.join('?' * len(sources))})",
        sources,
    ).fetchall()
    return {tuple(r[:5]): tuple(r[5:]) for r in rows}


def _same(stored: tuple, row: tuple) -> bool:
    value, qual, unit, note, note_zh, stated = stored
    r_value, r_qual, r_unit, r_note, r_note_zh, r_stated = row
    r_stated = (
        None
        if r_stated is None or (isinstance(r_stated, float) and math.isnan(r_stated))
        else r_stated
    )
    return (value, qual, unit, note, note_zh, stated) == (
        r_value,
        r_qual,
        r_unit,
        r_note,
        r_note_zh,
        r_stated,
    )


def _labelled(store: Store, declared: list[NewKey]) -> Vocabulary:
    """The store's vocabulary plus the file's declared names, for the sample lines."""
    vocab = store.vocabulary
    if not declared:
        return vocab
    copy = Vocabulary(labels=dict(vocab.labels))
    for nk in declared:
        copy.labels[(nk.kind, nk.key)] = {"en": nk.en, "zh": nk.zh, "short_en": "", "short_zh": ""}
    return copy


def _sample(store: Store, vocab: Vocabulary, rec: dict, sources: dict[str, dict]) -> str:
    src = sources.get(rec["source"])
    source = (
        Source(rec["source"], src["title"], src["publisher"], src["published"])
        if src
        else (store.source(rec["source"]))
    )
    stated = rec["stated_pct"]
    fact = Fact(
        rec["metric"],
        rec["segment"],
        rec["platform"] or None,
        Period.parse(rec["period"]),
        float(rec["value"]),
        rec["qualifier"],
        rec["unit"],
        source,
        rec["note"],
        rec["note_zh"],
        None if stated is None or pd.isna(stated) else float(stated),
    )
    head = vocab.label("segment", fact.segment, "en")
    if fact.platform:
        head += " " + vocab.label("platform", fact.platform, "en")
    head += " · " + vocab.label("metric", fact.metric, "en", short=True)
    line = f"{head}, {fact.period.human('en')}: {figure_text(fact, vocab, 'en')}"
    if fact.note:
        line += f" ({fact.note})"
    return line


def _validated(store: Store, path: Path, file_name: str):
    """Read and check a file: (clean rows, sources, declarations, row numbers, errors)."""
    raw, raw_sources = read_table(path)
    df, sources, errors = validate(store, raw, raw_sources)
    row_no = pd.Series(np.arange(len(df)) + 2, index=df.index)
    declared, decl_errors = _declarations(store, df, row_no)
    errors = sorted(errors + decl_errors, key=lambda e: e[0])
    return df, sources, declared, row_no, errors


def preview_file(store: Store, path: Path | str, file_name: str | None = None) -> Preview:
    """Everything an import of ``path`` would do, computed without writing to the store."""
    path = Path(path)
    name = file_name or path.name
    limit = max_upload_bytes()
    try:
        size = path.stat().st_size
        if size > limit:
            return Preview(name, error=f"{name}: {size:,} bytes is over the {limit:,}-byte limit")
        df, sources, declared, row_no, errors = _validated(store, path, name)
    except IngestError as e:
        message = str(e) if str(e).startswith(name) else f"{name}: {e}"
        return Preview(name, error=message, errors=e.errors)
    except OSError as e:
        return Preview(name, error=f"{name}: cannot read it: {e.strerror or e}")
    if errors:
        return Preview(
            name, error=f"{name}: {len(errors)} problem(s); nothing was changed", errors=errors
        )
    stored = _stored_rows(store, df)
    added = updated = unchanged = 0
    cols = ["value", "qualifier", "unit", "note", "note_zh", "stated_pct"]
    for key, vals in zip(
        zip(*(df[c].tolist() for c in KEY), strict=True),
        zip(*(df[c].tolist() for c in cols), strict=True),
        strict=True,
    ):
        old = stored.get(key)
        if old is None:
            added += 1
        elif _same(old, vals):
            unchanged += 1
        else:
            updated += 1
    before = _newest_by_segment(store)
    newest = max(before.values(), default="")
    periods = sorted(set(df["period"]))
    known: dict[str, set[str]] = {}
    for kind in DECLARED_KINDS:
        known[kind] = {k for (k,) in store.conn.execute(f"SELECT DISTINCT {kind} FROM series")}
        known[kind] |= {k for (kd, k) in store.vocabulary.labels if kd == kind}
    by_key = {(d.kind, d.key): d for d in declared}
    new_keys = []
    for kind in DECLARED_KINDS:
        for key in dict.fromkeys(df[kind]):
            if key and key not in known[kind]:
                new_keys.append(by_key.get((kind, key), NewKey(kind, key)))
    warnings = _growth_warnings(store, df, row_no)
    for nk in new_keys:
        if not nk.declared:
            warnings.append(
                f"new {nk.kind} {nk.key!r} has no display names: add {nk.kind}_en and "
                f"{nk.kind}_zh columns so it can be asked in Chinese"
            )
    vocab = _labelled(store, declared)
    by_source = {s["id"]: s for s in sources}
    samples = [
        _sample(store, vocab, rec, by_source) for rec in df.head(SAMPLE_ROWS).to_dict("records")
    ]
    return Preview(
        name,
        rows=len(df),
        added=added,
        updated=updated,
        unchanged=unchanged,
        periods=periods,
        new_periods=[p for p in periods if p > newest],
        new_keys=new_keys,
        declared=declared,
        warnings=warnings,
        samples=samples,
    )


# -- writing ------------------------------------------------------------------------------


@dataclass
class Imported:
    result: IngestResult
    declared: list[NewKey]

    def summary(self) -> str:
        text = self.result.summary()
        if self.declared:
            text += "; named: " + ", ".join(
                f"{d.kind} {d.key} ({' / '.join(n for n in (d.en, d.zh) if n)})"
                for d in self.declared
            )
        return text


def _write_declared(store: Store, declared: list[NewKey], who: str, file_name: str) -> None:
    """Store declared names as terms and as phrases (inside the caller's transaction)."""
    conn = store.conn
    at = now_iso()
    vocab = store.vocabulary
    for nk in declared:
        shipped = conn.execute(
            "SELECT 1 FROM terms WHERE kind = ? AND key = ? AND origin = ?",
            (nk.kind, nk.key, ORIGIN_SHIPPED),
        ).fetchone()
        if shipped:
            continue  # the package's own names stay; the file's are not needed for asking
        conn.execute(
            "INSERT INTO terms (kind, key, en, zh, origin, who, at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET en = excluded.en, zh = excluded.zh, "
            "origin = excluded.origin, who = excluded.who, at = excluded.at",
            (nk.kind, nk.key, nk.en, nk.zh, ORIGIN_FILE, f"{who} ({file_name})", at),
        )
        for name in (nk.en, nk.zh):
            if name and phrase_form(name) and vocab.meaning(name) is None:
                conn.execute(
                    "INSERT INTO synonyms (kind, key, phrase, origin, who, at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (nk.kind, nk.key, name, ORIGIN_FILE, f"{who} ({file_name})", at),
                )
    store.bump_vocabulary()


def import_file(
    store: Store, path: Path | str, *, who: str, file_name: str | None = None
) -> Imported:
    """Write a file's figures and declared names in one transaction: all or nothing.

    Raises IngestError (nothing written) for a file that does not validate.
    """
    path = Path(path)
    name = file_name or path.name
    limit = max_upload_bytes()
    if path.exists() and path.stat().st_size > limit:
        raise IngestError(f"{name}: {path.stat().st_size:,} bytes is over the {limit:,}-byte limit")
    df, sources, declared, row_no, errors = _validated(store, path, name)
    if errors:
        raise IngestError(f"{name}: {len(errors)} problem(s); nothing was changed", errors)
    warnings = _growth_warnings(store, df, row_no)
    before = _newest_by_segment(store)
    with store.transaction() as conn:
        added, updated, unchanged = _write(store, df, sources, name)
        store.rebuild_series()
        if declared:
            _write_declared(store, declared, who, name)
        history.record(
            conn,
            who,
            "import",
            f"{name}: {len(df)} rows — {added} added, {updated} updated, {unchanged} unchanged",
        )
    periods = sorted(set(df["period"]))
    newest = max(before.values(), default="")
    result = IngestResult(
        name,
        len(df),
        added,
        updated,
        unchanged,
        warnings,
        [p for p in periods if p > newest],
        periods,
    )
    return Imported(result, declared)
