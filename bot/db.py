"""The SQLite store: schema, first-use build from data/, the look-ups answers need, and the
short transactions that write an ingest's staged rows.

Imports nothing heavy (no pandas): `marketbot ask` opens the store on every cold start. The
shipped data/ is loaded with the csv module; it is curated, and a test checks that it passes
ingest's validation.

Plain sqlite3, not sqlite-utils (removed): importing sqlite-utils imports pandas (0.68 s
measured), its row-dict inserts staged 300,000 rows in 54 s against executemany's 2.4 s, and
the swap is ATTACH + INSERT … SELECT, which it has no API for. The file stays an ordinary
SQLite database that sqlite-utils and Datasette open as they are.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .config import create_private_file, default_db_path
from .models import Fact, Note, Period, Source
from .vocab import Vocabulary, build_vocabulary, data_dir, load_vocabulary

SHIPPED = "shipped"  # the `file` of figures that come with the package
# How stale another process's new words may be here: a question asked this long after
# `marketbot teach` or an ingest elsewhere sees them.
VOCAB_RECHECK_SECONDS = 0.1
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, title_zh TEXT NOT NULL DEFAULT '',
    publisher TEXT NOT NULL, publisher_zh TEXT NOT NULL DEFAULT '', published TEXT NOT NULL,
    article TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT ''
);
-- Every stored figure, with the ingest batch that wrote it (0: before batches). Read the
-- `facts` view: it hides the rows of a batch still being written (see Store.swap_in).
CREATE TABLE IF NOT EXISTS facts_all (
    metric TEXT NOT NULL, segment TEXT NOT NULL, platform TEXT NOT NULL DEFAULT '',
    period TEXT NOT NULL, value REAL NOT NULL, qualifier TEXT NOT NULL DEFAULT '=',
    unit TEXT NOT NULL, source TEXT NOT NULL REFERENCES sources(id),
    stated_pct REAL, note TEXT NOT NULL DEFAULT '', note_zh TEXT NOT NULL DEFAULT '',
    file TEXT NOT NULL, updated_at TEXT NOT NULL, batch INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (metric, segment, platform, period, source)
) WITHOUT ROWID;
-- A push summary reads one period's markets: this keeps its cost to that period's rows.
CREATE INDEX IF NOT EXISTS facts_period ON facts_all (period, segment);
-- Large ingests being written, chunk by chunk. AUTOINCREMENT: a batch id is never reused, so
-- a new pending batch can't hide the rows of a finished one.
CREATE TABLE IF NOT EXISTS pending_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, lease_until REAL NOT NULL
);
CREATE VIEW IF NOT EXISTS facts AS
    SELECT metric, segment, platform, period, value, qualifier, unit, source, stated_pct, note,
    note_zh, file, updated_at FROM facts_all WHERE batch NOT IN (SELECT id FROM pending_batches);
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
CREATE TABLE IF NOT EXISTS source_revisions (
    id TEXT NOT NULL, title TEXT, title_zh TEXT, publisher TEXT, publisher_zh TEXT,
    published TEXT, article TEXT, url TEXT, file TEXT, at TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, text TEXT NOT NULL, normalized TEXT NOT NULL,
    status TEXT NOT NULL, chat_kind TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS unanswered_normalized ON unanswered (normalized);
CREATE TABLE IF NOT EXISTS terms (
    kind TEXT NOT NULL, key TEXT NOT NULL, en TEXT NOT NULL DEFAULT '',
    zh TEXT NOT NULL DEFAULT '', short_en TEXT NOT NULL DEFAULT '',
    short_zh TEXT NOT NULL DEFAULT '', origin TEXT NOT NULL, who TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS synonyms (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL DEFAULT '',
    phrase TEXT NOT NULL, origin TEXT NOT NULL, who TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
    what TEXT NOT NULL
);
"""

BUSY_TIMEOUT_MS = 30_000
# An ingest of more new figures than this is written a chunk per transaction (Store.swap_in):
# the first chunk this size, the next sized to take CHUNK_SECONDS at the rate measured.
CHUNK_ROWS = 10_000
CHUNK_MAX_ROWS = 100_000
CHUNK_SECONDS = 0.25
# The lock is free this long between chunks. SQLite's lock is not fair: a writer waiting in
# its busy handler retries every 100 ms, so a shorter gap could keep missing it.
CHUNK_PAUSE_SECONDS = 0.12
BATCH_LEASE_SECONDS = 300.0  # a pending batch not renewed for this long is abandoned
HOST = socket.gethostname()
# The columns of data/facts.csv and of a stored figure, in order.
FACT_FIELDS = (
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
)
_UPDATABLE = ("value", "qualifier", "unit", "stated_pct", "note", "note_zh")
SOURCE_FIELDS = (
    "id",
    "title",
    "title_zh",
    "publisher",
    "publisher_zh",
    "published",
    "article",
    "url",
)
# Where a vocabulary row came from: the package's data/, a report file that declared it, or a
# curator who taught it. Rebuilding the shipped data replaces only `shipped` rows.
ORIGIN_SHIPPED, ORIGIN_FILE, ORIGIN_TAUGHT = "shipped", "file", "taught"
TERM_FIELDS = ("kind", "key", "en", "zh", "short_en", "short_zh")

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


def _series_filter(
    metrics: tuple[str, ...], segments: tuple[str, ...], platforms: tuple[str, ...]
) -> tuple[str, list[str]]:
    """A WHERE clause (or "") on the series table and its arguments."""
    where, args = [], []
    for col, keys in (("metric", metrics), ("segment", segments), ("platform", platforms)):
        if keys:
            where.append(f"{col} IN ({','.join('?' * len(keys))})")
            args.extend(keys)
    return (" WHERE " + " AND ".join(where) if where else ""), args


class Store:
    """One SQLite file holding figures, sources, notes and the bot's own state."""

    def __init__(self, path: Path | str, *, check_same_thread: bool = False) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            create_private_file(self.path)  # 0600 in 0700 folders: chat ids, questions
        conn = sqlite3.connect(
            str(path),
            check_same_thread=check_same_thread,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        self.conn = conn
        self.lock = threading.RLock()  # one connection shared by the bot's threads
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        _migrate_facts_table(conn)
        conn.executescript(_SCHEMA)
        self._sources: dict[str, Source] = {}
        self._vocab: Vocabulary | None = None
        self._pending: list[tuple] = []  # unanswered questions waiting for the write lock
        self._vocab_version: str | None = None
        self._data_version: int | None = None
        self._checked_at = 0.0

    def last_period(self, metric: str, segment: str, platform: str | None) -> Period | None:
        row = self.conn.execute(
            "SELECT last_period FROM series WHERE metric = ? AND segment = ? AND platform = ?",
            (metric, segment, platform or ""),
        ).fetchone()
        return Period.parse(row[0]) if row else None

    # -- building -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing on the shared connection (see ``immediate``)."""
        with self.lock, immediate(self.conn) as conn:
            yield conn

    def ensure_shipped(self) -> bool:
        """Load the shipped data/ if this store lacks it or it changed; True if it loaded."""
        vocab_loaded = self.ensure_shipped_vocabulary()
        digest = shipped_hash()
        if self.meta("shipped_hash") == digest:
            return vocab_loaded
        load_shipped(self, digest)
        return True

    def generation(self) -> int:
        """Bumped by every write of figures: a plan made at one generation applies only to it."""
        return int(self.meta("facts_generation") or 0)

    def ensure_shipped_vocabulary(self) -> bool:
        """(Re)load data/terms.csv and synonyms.csv into the store's `shipped` vocabulary rows.

        Rows from files and curators are left as they are, and win over shipped ones.
        """
        folder = data_dir()
        digest = hashlib.sha256(
            (folder / "terms.csv").read_bytes() + b"\0" + (folder / "synonyms.csv").read_bytes()
        ).hexdigest()
        if self.meta("shipped_vocab_hash") == digest:
            return False
        import csv

        with (folder / "terms.csv").open(encoding="utf-8", newline="") as fh:
            terms = list(csv.DictReader(fh))
        with (folder / "synonyms.csv").open(encoding="utf-8", newline="") as fh:
            synonyms = list(csv.DictReader(fh))
        build_vocabulary(terms, synonyms)  # refuse a broken file before touching the store
        with self.transaction() as conn:
            conn.execute("DELETE FROM terms WHERE origin = ?", (ORIGIN_SHIPPED,))
            conn.executemany(
                "INSERT INTO terms (kind, key, en, zh, short_en, short_zh, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING",
                [(*(r.get(f) or "" for f in TERM_FIELDS), ORIGIN_SHIPPED) for r in terms],
            )
            conn.execute("DELETE FROM synonyms WHERE origin = ?", (ORIGIN_SHIPPED,))
            conn.executemany(
                "INSERT INTO synonyms (kind, key, phrase, origin) VALUES (?, ?, ?, ?)",
                [
                    (r["kind"].strip(), (r["key"] or "").strip(), r["phrase"], ORIGIN_SHIPPED)
                    for r in synonyms
                ],
            )
            self.set_meta("shipped_vocab_hash", digest)
            self.bump_vocabulary()
        return True

    def declare_terms(
        self, terms: Sequence[tuple[str, str, str, str]], *, who: str, at: str
    ) -> None:
        """Store a file's new keys with their names, askable by them (in the caller's
        transaction). The package's own names for a key stay as they are."""
        conn = self.conn
        vocab = self.vocabulary
        for kind, key, en, zh in terms:
            shipped = conn.execute(
                "SELECT 1 FROM terms WHERE kind = ? AND key = ? AND origin = ?",
                (kind, key, ORIGIN_SHIPPED),
            ).fetchone()
            if shipped:
                continue
            conn.execute(
                "INSERT INTO terms (kind, key, en, zh, origin, who, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
                "en = excluded.en, zh = excluded.zh, origin = excluded.origin, "
                "who = excluded.who, at = excluded.at",
                (kind, key, en, zh, ORIGIN_FILE, who, at),
            )
            for name in (en, zh):
                if name and vocab.meaning(name) is None:
                    conn.execute(
                        "INSERT INTO synonyms (kind, key, phrase, origin, who, at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (kind, key, name, ORIGIN_FILE, who, at),
                    )
        self.bump_vocabulary()

    def bump_vocabulary(self) -> None:
        """Tell every process reading this store that its words changed (inside a transaction)."""
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('vocab_version', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )
        self._vocab = None

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
        self.bump_vocabulary()  # new keys are askable by name, in every running process

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
        """Terms and synonyms from the store plus every key stored, so new keys are askable.

        Rebuilt when any process changed the words: `PRAGMA data_version` tells whether another
        connection committed, and only then is the `vocab_version` meta row read. That statement
        costs ~10 µs and an answer reads the vocabulary several times, so it runs at most every
        VOCAB_RECHECK_SECONDS. Writes through this connection reset the cache directly.
        """
        vocab = self._vocab
        now = time.monotonic()
        if vocab is not None and now - self._checked_at < VOCAB_RECHECK_SECONDS:
            return vocab
        self._checked_at = now
        data_version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if vocab is not None and data_version == self._data_version:
            return vocab
        self._data_version = data_version
        version = self.meta("vocab_version")
        if vocab is not None and version == self._vocab_version:
            return vocab
        vocab = self._build_vocabulary()
        self._vocab, self._vocab_version = vocab, version
        self._sources.clear()  # an ingest elsewhere may have replaced a source's title
        return vocab

    def _build_vocabulary(self) -> Vocabulary:
        conn = self.conn
        terms = conn.execute(
            "SELECT kind, key, en, zh, short_en, short_zh FROM terms ORDER BY kind, key"
        ).fetchall()
        # Curators' and files' words first: the first meaning of a phrase wins.
        synonyms = conn.execute(
            "SELECT kind, key, phrase FROM synonyms "
            "ORDER BY CASE origin WHEN ? THEN 1 ELSE 0 END, id",
            (ORIGIN_SHIPPED,),
        ).fetchall()
        if not terms:  # a store not built by open_store: the shipped words still apply
            vocab = load_vocabulary()
        else:
            vocab = build_vocabulary(
                [dict(zip(TERM_FIELDS, row, strict=True)) for row in terms],
                [{"kind": k, "key": key, "phrase": phrase} for k, key, phrase in synonyms],
            )
        for kind in ("metric", "segment", "platform"):
            for (key,) in conn.execute(f"SELECT DISTINCT {kind} FROM series"):
                if key:
                    vocab.add_key(kind, key)
        return vocab

    def series_keys(
        self,
        metrics: tuple[str, ...] = (),
        segments: tuple[str, ...] = (),
        platforms: tuple[str, ...] = (),
        limit: int | None = 50,
    ) -> list[tuple[str, str, str | None]]:
        """(metric, segment, platform) series matching every given filter (all if no limit)."""
        where, args = _series_filter(metrics, segments, platforms)
        sql = f"SELECT metric, segment, platform FROM series{where} ORDER BY segment, platform, metric"
        rows = self.conn.execute(sql + " LIMIT ?", [*args, -1 if limit is None else limit])
        return [(m, s, p or None) for m, s, p in rows]

    def markets(
        self, metrics: tuple[str, ...] = (), platforms: tuple[str, ...] = (), limit: int = 50
    ) -> list[str]:
        """The markets (segment keys) with a series matching the filters, in key order."""
        where, args = _series_filter(metrics, (), platforms)
        sql = f"SELECT DISTINCT segment FROM series{where} ORDER BY segment LIMIT ?"
        return [s for (s,) in self.conn.execute(sql, [*args, limit])]

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
        facts = self.facts_by_source(metric, segment, platform, period)
        if not facts:
            return None
        newest = facts[0]
        others = tuple(
            f for f in facts[1:] if (f.value, f.qualifier) != (newest.value, newest.qualifier)
        )
        return newest._replace(alternatives=others) if others else newest

    def facts_by_source(
        self,
        metric: str,
        segment: str,
        platform: str | None,
        period: Period,
        limit: int = 10,
    ) -> list[Fact]:
        """Every source's figure for one series and period, newest publication first."""
        rows = self.conn.execute(
            f"SELECT {_FACT_COLUMNS} FROM facts JOIN sources ON sources.id = facts.source "
            "WHERE metric = ? AND segment = ? AND platform = ? AND period = ? "
            "ORDER BY sources.published DESC, facts.source LIMIT ?",
            (metric, segment, platform or "", period.label, limit),
        ).fetchall()
        return [
            Fact(m, s, p or None, Period.parse(per), value, qual, unit, self.source(src), *rest)
            for m, s, p, per, value, qual, unit, note, note_zh, src, stated in rows
            for rest in [(note, note_zh, stated)]
        ]

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

    def record_unanswered(
        self, text: str, normalized: str, status: str, chat_kind: str, *, defer: bool = True
    ) -> None:
        """Log a question that got no answer, without ever waiting for another writer.

        An answer must not wait for an ingest's write lock: when the store is busy the row is
        kept in memory and written with the next one (or at close). ``defer=False`` is for a
        background writer that retries by itself: it waits and raises like any write.
        """
        row = (text[:500], normalized[:500], status, chat_kind, now_iso())
        if not defer:
            with self.lock:
                self.conn.execute(
                    "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    row,
                )
            return
        with self.lock:
            self._pending.append(row)
            self.conn.execute("PRAGMA busy_timeout = 0")
            try:
                self.conn.executemany(
                    "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    self._pending,
                )
                self._pending.clear()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

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

    # -- ingest: short writes ----------------------------------------------------------------

    def swap_in(
        self,
        staging: Path,
        *,
        file_label: str,
        generation: int,
        sources: Sequence[dict],
        source_revisions: Sequence[dict],
        terms: Sequence[tuple[str, str, str, str]],
        added: int,
        history: tuple[str, str, str] | None = None,
    ) -> None:
        """Write an ingest staged in ``staging`` (an SQLite file): all of it or nothing.

        The staging file holds ``added`` (the ``added`` new figures, in key order),
        ``changed`` (figures whose value or wording changed against the store at
        ``generation``) and ``series_new`` (the series catalogue rows the file changes).

        Up to CHUNK_ROWS new figures go in one transaction. More are written first as a
        pending batch, a chunk of about CHUNK_SECONDS per short transaction, hidden from every
        reader by the `facts` view; the last short transaction makes the batch visible.
        So no other writer (the bot's, a push, a curator) waits on an ingest for longer than
        one chunk. Raises StaleStore if figures were written since ``generation``, StoreBusy
        if another large ingest is being written.
        """
        at = now_iso()
        batch = None
        if added > CHUNK_ROWS:
            batch = self._claim_batch(generation, file_label)
        try:
            if batch is not None:
                self._write_pending(staging, batch, file_label, at, added)
            self._finish_ingest(
                staging,
                batch,
                file_label=file_label,
                generation=generation,
                at=at,
                sources=sources,
                source_revisions=source_revisions,
                terms=terms,
                history=history,
            )
        except BaseException:
            if batch is not None:
                with contextlib.suppress(sqlite3.Error):  # else the rows stay hidden: cleared
                    self._clear_batch(batch)  # by the next large ingest (abandoned batch)
            raise

    def _writer(self) -> sqlite3.Connection:
        """A connection of its own for chunked writes: the shared one keeps serving answers."""
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        # A pending batch's new sources are written in its last transaction, with the rows
        # made visible: until then its figures point at sources not yet stored.
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def _claim_batch(self, generation: int, file_label: str) -> int:
        """Start a pending batch; clear the rows of any batch whose writer died."""
        now = time.time()
        with self.transaction() as conn:
            if self.generation() != generation:
                raise StaleStore("the store changed since this file was checked")
            abandoned = []
            for bid, file, host, pid, lease_until in conn.execute(
                "SELECT id, file, host, pid, lease_until FROM pending_batches"
            ).fetchall():
                if lease_until > now and (host != HOST or pid_alive(pid)):
                    raise StoreBusy(
                        f"{file} is being written (pid {pid} on {host}); try again when it ends"
                    )
                abandoned.append(bid)
            batch = conn.execute(
                "INSERT INTO pending_batches (file, host, pid, lease_until) VALUES (?, ?, ?, ?)",
                (file_label, HOST, os.getpid(), now + BATCH_LEASE_SECONDS),
            ).lastrowid
        for bid in abandoned:
            self._clear_batch(bid)
        return batch

    def _write_pending(
        self, staging: Path, batch: int, file_label: str, at: str, added: int
    ) -> None:
        cols = ", ".join(FACT_FIELDS)
        conn = self._writer()
        try:
            conn.execute("ATTACH DATABASE ? AS staged", (str(staging),))
            first, rows = 1, CHUNK_ROWS
            while first <= added:
                started = time.perf_counter()
                with immediate(conn):
                    renewed = conn.execute(
                        "UPDATE pending_batches SET lease_until = ? WHERE id = ?",
                        (time.time() + BATCH_LEASE_SECONDS, batch),
                    ).rowcount
                    if not renewed:  # another ingest took it for abandoned and cleared it
                        raise StaleStore("the store changed while this file was written")
                    conn.execute(
                        f"INSERT INTO facts_all ({cols}, file, updated_at, batch) "
                        f"SELECT {cols}, ?, ?, ? FROM staged.added WHERE rowid BETWEEN ? AND ?",
                        (file_label, at, batch, first, first + rows - 1),
                    )
                first += rows
                took = time.perf_counter() - started
                rows = min(CHUNK_MAX_ROWS, max(100, int(rows * CHUNK_SECONDS / max(took, 1e-6))))
                time.sleep(CHUNK_PAUSE_SECONDS)
        finally:
            conn.close()

    def _clear_batch(self, batch: int) -> None:
        """Delete a pending batch's rows, a chunk per transaction, then the batch."""
        conn = self._writer()
        try:
            while True:
                with immediate(conn):
                    gone = conn.execute(
                        "DELETE FROM facts_all WHERE (metric, segment, platform, period, source) "
                        "IN (SELECT metric, segment, platform, period, source FROM facts_all "
                        "WHERE batch = ? LIMIT ?)",
                        (batch, CHUNK_ROWS),
                    ).rowcount
                    if not gone:
                        conn.execute("DELETE FROM pending_batches WHERE id = ?", (batch,))
                if not gone:
                    return
                time.sleep(CHUNK_PAUSE_SECONDS)
        finally:
            conn.close()

    def _finish_ingest(
        self,
        staging: Path,
        batch: int | None,
        *,
        file_label: str,
        generation: int,
        at: str,
        sources: Sequence[dict],
        source_revisions: Sequence[dict],
        terms: Sequence[tuple[str, str, str, str]],
        history: tuple[str, str, str] | None,
    ) -> None:
        """The last short transaction: sources, corrections, series; the batch made visible."""
        cols = ", ".join(FACT_FIELDS)
        with self.lock:
            self.conn.execute("ATTACH DATABASE ? AS staged", (str(staging),))
            try:
                with self.transaction() as conn:
                    if self.generation() != generation:
                        raise StaleStore("the store changed since this file was checked")
                    for rec in source_revisions:
                        conn.execute(
                            "INSERT INTO source_revisions SELECT *, ?, ? FROM sources WHERE id = ?",
                            (file_label, at, rec["id"]),
                        )
                    conn.executemany(
                        f"INSERT INTO sources ({', '.join(SOURCE_FIELDS)}) VALUES "
                        f"({', '.join('?' * len(SOURCE_FIELDS))}) ON CONFLICT(id) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in SOURCE_FIELDS[1:]),
                        [[rec[c] for c in SOURCE_FIELDS] for rec in sources],
                    )
                    if terms:
                        self.declare_terms(terms, who=file_label, at=at)
                    if history:
                        conn.execute(
                            "INSERT INTO history (at, who, action, what) VALUES (?, ?, ?, ?)",
                            (at, *history),
                        )
                    conn.execute(
                        "INSERT INTO revisions SELECT i.metric, i.segment, i.platform, i.period, "
                        "i.source, f.value, f.qualifier, i.value, i.qualifier, ?, ? "
                        "FROM staged.changed i JOIN facts_all f ON f.metric = i.metric "
                        "AND f.segment = i.segment AND f.platform = i.platform "
                        "AND f.period = i.period AND f.source = i.source "
                        "WHERE f.value != i.value OR f.qualifier != i.qualifier",
                        (file_label, at),
                    )
                    if batch is None:
                        conn.execute(
                            f"INSERT INTO facts_all ({cols}, file, updated_at) "
                            f"SELECT {cols}, ?, ? FROM staged.added",
                            (file_label, at),
                        )
                    elif not conn.execute(
                        "DELETE FROM pending_batches WHERE id = ?", (batch,)
                    ).rowcount:  # cleared as abandoned by another ingest meanwhile
                        raise StaleStore("the store changed while this file was written")
                    conn.execute(
                        f"INSERT INTO facts_all ({cols}, file, updated_at) "
                        f"SELECT {cols}, ?, ? FROM staged.changed WHERE true "
                        "ON CONFLICT(metric, segment, platform, period, source) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in _UPDATABLE)
                        + ", file = excluded.file, updated_at = excluded.updated_at",
                        (file_label, at),
                    )
                    conn.execute("INSERT OR REPLACE INTO series SELECT * FROM staged.series_new")
                    # New series are new askable keys: every reader rebuilds its vocabulary.
                    self.bump_vocabulary()
                    self.set_meta("facts_generation", str(generation + 1))
            finally:
                self.conn.execute("DETACH DATABASE staged")
                self._sources.clear()
                self._vocab = None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error), self.lock:
            if self._pending:
                self.conn.execute("PRAGMA busy_timeout = 5000")
                self.conn.executemany(
                    "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    self._pending,
                )
        self.conn.close()


class StaleStore(Exception):
    """Figures were written between an ingest's check and its write."""


class StoreBusy(Exception):
    """Another large ingest is being written; the message says which and by whom."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _migrate_facts_table(conn: sqlite3.Connection) -> None:
    """A store made before pending batches: its `facts` table becomes `facts_all`."""
    row = conn.execute("SELECT type FROM sqlite_master WHERE name = 'facts'").fetchone()
    if not row or row[0] != "table":
        return
    with immediate(conn):
        if conn.execute("SELECT type FROM sqlite_master WHERE name = 'facts'").fetchone() == (
            "table",
        ):  # not done by another process while this one waited for the lock
            conn.execute("ALTER TABLE facts RENAME TO facts_all")
            conn.execute("ALTER TABLE facts_all ADD COLUMN batch INTEGER NOT NULL DEFAULT 0")


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All or nothing: BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_shipped(store: Store, digest: str) -> None:
    """(Re)load data/ into the store; figures corrected by an ingested file stay as they are."""
    folder = data_dir()
    sources = _read_csv(folder / "sources.csv")
    facts = []
    for r in _read_csv(folder / "facts.csv"):
        stated = (r.get("stated_pct") or "").strip()
        facts.append(
            (
                *(r[c].strip() for c in ("metric", "segment", "platform", "period")),
                float(r["value"]),
                (r.get("qualifier") or "").strip() or "=",
                r["unit"].strip(),
                r["source"].strip(),
                float(stated) if stated else None,
                r.get("note") or "",
                r.get("note_zh") or "",
            )
        )
    notes = [
        tuple(
            r[c] for c in ("segment", "period", "topic", "ordinal", "text_en", "text_zh", "source")
        )
        for r in _read_csv(folder / "notes.csv")
    ]
    at = now_iso()
    with store.transaction() as conn:
        conn.executemany(
            f"INSERT INTO sources ({', '.join(SOURCE_FIELDS)}) VALUES "
            f"({', '.join('?' * len(SOURCE_FIELDS))}) ON CONFLICT(id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in SOURCE_FIELDS[1:]),
            [[r.get(c) or "" for c in SOURCE_FIELDS] for r in sources],
        )
        conn.execute(f"DELETE FROM facts_all WHERE file = '{SHIPPED}'")
        # A figure an ingested file corrected keeps its correction (DO NOTHING).
        conn.executemany(
            f"INSERT INTO facts_all ({', '.join(FACT_FIELDS)}, file, updated_at) "
            f"VALUES ({', '.join('?' * len(FACT_FIELDS))}, '{SHIPPED}', ?) ON CONFLICT DO NOTHING",
            [(*f, at) for f in facts],
        )
        conn.executemany("DELETE FROM notes WHERE source = ?", [(r["id"],) for r in sources])
        conn.executemany("INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)", notes)
        store.rebuild_series()
        store.set_meta("shipped_hash", digest)
        store.set_meta("facts_generation", str(store.generation() + 1))


def open_store(path: Path | str | None = None) -> Store:
    """Open (creating and filling on first use) the store at ``path`` or the default place."""
    store = Store(path or default_db_path())
    store.ensure_shipped()
    return store
