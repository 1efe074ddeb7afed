"""The SQLite store: schema, first-use build from data/, and the look-ups answers need."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .config import default_db_path
from .models import Fact, Note, Period, Source
from .vocab import Vocabulary, data_dir, load_vocabulary

SHIPPED = "shipped"  # the `file` of figures that come with the package
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, title_zh TEXT NOT NULL DEFAULT '',
    publisher TEXT NOT NULL, publisher_zh TEXT NOT NULL DEFAULT '', published TEXT NOT NULL,
    article TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS facts (
    metric TEXT NOT NULL, segment TEXT NOT NULL, platform TEXT NOT NULL DEFAULT '',
    period TEXT NOT NULL, value REAL NOT NULL, qualifier TEXT NOT NULL DEFAULT '=',
    unit TEXT NOT NULL, source TEXT NOT NULL REFERENCES sources(id),
    stated_pct REAL, note TEXT NOT NULL DEFAULT '', note_zh TEXT NOT NULL DEFAULT '',
    file TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (metric, segment, platform, period, source)
) WITHOUT ROWID;
-- A push summary reads one period's markets: this keeps its cost to that period's rows.
CREATE INDEX IF NOT EXISTS facts_period ON facts (period, segment);
CREATE TABLE IF NOT EXISTS series (
    metric TEXT NOT NULL, segment TEXT NOT NULL, platform TEXT NOT NULL,
    unit TEXT NOT NULL, first_period TEXT NOT NULL, last_period TEXT NOT NULL,
    periods INTEGER NOT NULL,
    PRIMARY KEY (metric, segment, platform)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS series_segment ON series (segment, platform);
CREATE INDEX IF NOT EXISTS series_platform ON series (platform);
CREATE TABLE IF NOT EXISTS notes (
    segment TEXT NOT NULL, period TEXT NOT NULL, topic TEXT NOT NULL, ordinal INTEGER NOT NULL,
    text_en TEXT NOT NULL, text_zh TEXT NOT NULL DEFAULT '', source TEXT NOT NULL,
    PRIMARY KEY (segment, period, topic, ordinal, source)
);
CREATE TABLE IF NOT EXISTS revisions (
    metric TEXT, segment TEXT, platform TEXT, period TEXT, source TEXT,
    old_value REAL, old_qualifier TEXT, new_value REAL, new_qualifier TEXT,
    file TEXT, at TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, text TEXT NOT NULL, normalized TEXT NOT NULL,
    status TEXT NOT NULL, chat_kind TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unanswered_normalized ON unanswered (normalized);
"""

_FACT_COLUMNS = (
    "metric, segment, platform, period, value, qualifier, unit, note, note_zh, source, stated_pct"
)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def shipped_hash(folder: Path | None = None) -> str:
    """A digest of the shipped data files: a change means the store must reload them."""
    folder = folder or data_dir()
    h = hashlib.sha256(SCHEMA_VERSION.encode())
    for name in ("sources.csv", "facts.csv", "notes.csv", "terms.csv"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


class Store:
    """One SQLite file holding figures, sources, notes and the bot's own state."""

    def __init__(self, path: Path | str, *, check_same_thread: bool = False) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), check_same_thread=check_same_thread, isolation_level=None, timeout=30
        )
        self.conn = conn
        self.lock = threading.RLock()  # one connection shared by the bot's threads
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        self._sources: dict[str, Source] = {}
        self._vocab: Vocabulary | None = None

    @property
    def db(self):
        """The same connection as a sqlite-utils Database, for maintenance and exploration.

        Imported on demand: sqlite-utils pulls in pandas, which would cost a cold `ask` ~0.4 s.
        """
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def last_period(self, metric: str, segment: str, platform: str | None) -> Period | None:
        row = self.conn.execute(
            "SELECT last_period FROM series WHERE metric = ? AND segment = ? AND platform = ?",
            (metric, segment, platform or ""),
        ).fetchone()
        return Period.parse(row[0]) if row else None

    # -- building -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def ensure_shipped(self) -> bool:
        """Load the shipped data/ if this store lacks it or it changed; True if it loaded."""
        digest = shipped_hash()
        if self.meta("shipped_hash") == digest:
            return False
        from .ingest import load_shipped  # ingest pulls in pandas: only when building

        load_shipped(self, digest)
        return True

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def rebuild_series(self) -> None:
        """Recompute the series catalogue from facts (inside the caller's transaction)."""
        self.conn.execute("DELETE FROM series")
        self.conn.execute(
            "INSERT INTO series SELECT metric, segment, platform, max(unit), min(period), "
            "max(period), count(DISTINCT period) FROM facts GROUP BY metric, segment, platform"
        )
        self._sources.clear()
        self._vocab = None

    # -- reading --------------------------------------------------------------------------

    def source(self, source_id: str) -> Source:
        src = self._sources.get(source_id)
        if src is None:
            row = self.conn.execute(
                "SELECT id, title, publisher, published, title_zh, publisher_zh, article, url "
                "FROM sources WHERE id = ?",
                (source_id,),
            ).fetchone()
            src = Source(*row) if row else Source(source_id, source_id, "", "")
            self._sources[source_id] = src
        return src

    def sources(self) -> list[Source]:
        rows = self.conn.execute(
            "SELECT id, title, publisher, published, title_zh, publisher_zh, article, url "
            "FROM sources ORDER BY published DESC, id"
        ).fetchall()
        return [Source(*r) for r in rows]

    @property
    def vocabulary(self) -> Vocabulary:
        """Shipped synonyms plus every key stored, so new reports' keys are askable."""
        if self._vocab is None:
            vocab = load_vocabulary()
            for kind in ("metric", "segment", "platform"):
                col = kind
                for (key,) in self.conn.execute(f"SELECT DISTINCT {col} FROM series"):
                    if key:
                        vocab.add_key(kind, key)
            self._vocab = vocab
        return self._vocab

    def series_keys(
        self,
        metrics: tuple[str, ...] = (),
        segments: tuple[str, ...] = (),
        platforms: tuple[str, ...] = (),
        limit: int = 50,
    ) -> list[tuple[str, str, str | None]]:
        """(metric, segment, platform) series matching every given filter."""
        where, args = [], []
        for col, keys in (("metric", metrics), ("segment", segments), ("platform", platforms)):
            if keys:
                where.append(f"{col} IN ({','.join('?' * len(keys))})")
                args.extend(keys)
        sql = "SELECT metric, segment, platform FROM series"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY segment, platform, metric LIMIT ?"
        args.append(limit)
        return [(m, s, p or None) for m, s, p in self.conn.execute(sql, args)]

    def periods(self, metric: str, segment: str, platform: str | None) -> list[Period]:
        # Labels come from validated rows: "2019Q3" is read by position, not by regex.
        rows = self.conn.execute(
            "SELECT DISTINCT period FROM facts WHERE metric = ? AND segment = ? AND platform = ? "
            "ORDER BY period",
            (metric, segment, platform or ""),
        ).fetchall()
        return [Period(int(r[0][:4]), int(r[0][5])) for r in rows]

    def fact(self, metric: str, segment: str, platform: str | None, period: Period) -> Fact | None:
        """The figure for one series and period; the most recently published source wins."""
        row = self.conn.execute(
            f"SELECT {_FACT_COLUMNS} FROM facts JOIN sources ON sources.id = facts.source "
            "WHERE metric = ? AND segment = ? AND platform = ? AND period = ? "
            "ORDER BY sources.published DESC LIMIT 1",
            (metric, segment, platform or "", period.label),
        ).fetchone()
        if row is None:
            return None
        m, s, p, per, value, qual, unit, note, note_zh, src, stated = row
        return Fact(
            m,
            s,
            p or None,
            Period.parse(per),
            value,
            qual,
            unit,
            self.source(src),
            note,
            note_zh,
            stated,
        )

    def notes(self, segment: str | None, topic: str) -> list[Note]:
        sql = (
            "SELECT segment, period, topic, ordinal, text_en, text_zh, source FROM notes "
            "WHERE topic = ?"
        )
        args: list = [topic]
        if segment:
            sql += " AND segment = ?"
            args.append(segment)
        sql += " ORDER BY period DESC, segment, ordinal"
        return [
            Note(s, Period.parse(p), t, o, en, zh, self.source(src))
            for s, p, t, o, en, zh, src in self.conn.execute(sql, args)
        ]

    def catalogue(self) -> list[dict]:
        """Every series with its periods and sources, for `marketbot metrics` and /metrics."""
        rows = self.conn.execute(
            "SELECT s.metric, s.segment, s.platform, s.unit, s.first_period, s.last_period, "
            "s.periods, group_concat(DISTINCT f.period), group_concat(DISTINCT f.source) "
            "FROM series s JOIN facts f ON f.metric = s.metric AND f.segment = s.segment "
            "AND f.platform = s.platform GROUP BY s.metric, s.segment, s.platform "
            "ORDER BY s.segment, s.platform, s.metric"
        ).fetchall()
        return [
            {
                "metric": m,
                "segment": s,
                "platform": p or None,
                "unit": u,
                "periods": sorted((per or "").split(",")),
                "sources": sorted((src or "").split(",")),
            }
            for m, s, p, u, _first, _last, _n, per, src in rows
        ]

    def count_facts(self) -> int:
        return self.conn.execute("SELECT count(*) FROM facts").fetchone()[0]

    def newest_period(self) -> Period | None:
        row = self.conn.execute("SELECT max(last_period) FROM series").fetchone()
        return Period.parse(row[0]) if row and row[0] else None

    # -- learning from questions ----------------------------------------------------------

    def record_unanswered(self, text: str, normalized: str, status: str, chat_kind: str) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (text[:500], normalized[:500], status, chat_kind, now_iso()),
            )

    def unanswered(self, limit: int = 50) -> list[dict]:
        rows = self.conn.execute(
            "SELECT normalized, count(*) AS n, max(at), group_concat(DISTINCT chat_kind), "
            "max(text), max(status) FROM unanswered GROUP BY normalized "
            "ORDER BY n DESC, max(at) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {"question": text, "count": n, "last_asked": at, "chat_kinds": kinds, "status": st}
            for _norm, n, at, kinds, text, st in rows
        ]

    def close(self) -> None:
        self.conn.close()


def open_store(path: Path | str | None = None) -> Store:
    """Open (creating and filling on first use) the store at ``path`` or the default place."""
    store = Store(path or default_db_path())
    store.ensure_shipped()
    return store
