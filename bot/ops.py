"""Operating the bot: `marketbot doctor`, `marketbot backup`, and the logging set-up.

`doctor` prints one line per check (``PASS``/``FAIL``/``SKIP name: detail``) and exits 1 when
any check fails; ``--store-only`` needs no network (the Docker HEALTHCHECK). `backup` copies the
live store with SQLite's online backup API, safe while the bot writes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import click

from .cli_text import plural
from .config import db_option, make_private_dirs

if TYPE_CHECKING:
    from .config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[token]"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - in a webhook's secret_token.
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# A webhook delivery error younger than this fails `doctor`; older ones are only reported.
RECENT_WEBHOOK_ERROR = dt.timedelta(hours=24)


# -- logging ------------------------------------------------------------------------------


class RedactToken(logging.Filter):
    """Replace the bot token in a record's message, arguments and traceback with ``[token]``.

    Attach it to handlers (a logger's filters do not see records propagated from child
    loggers): ``handler.addFilter(RedactToken(settings.token))``.
    """

    def __init__(self, token: str | None) -> None:
        super().__init__()
        secrets = set()
        if token:
            secrets.update({token, quote(token, safe="")})
            _, _, secret_part = token.partition(":")
            if len(secret_part) >= 8:  # the part after the bot id is the actual secret
                secrets.add(secret_part)
        self._secrets = sorted(secrets, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the formatter's problem, not ours
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def is_network_error(exc: BaseException | None) -> bool:
    """A `telegram.error.NetworkError` (timeouts included), without importing telegram."""
    return exc is not None and any(
        c.__name__ == "NetworkError" and c.__module__.startswith("telegram")
        for c in type(exc).__mro__
    )


class OneLine(logging.Filter):
    """Below DEBUG, a record's traceback becomes one ``(Type: message)`` at the end of its line.

    Also drops python-telegram-bot's own report of a failed start-up ("Network Retry Loop
    (Bootstrap …)"): `run` says what went wrong in one line of its own. At DEBUG everything
    passes, tracebacks included (redacted by `RedactToken`, which must come after this).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and record.getMessage().startswith(
            "Network Retry Loop (Bootstrap"
        ):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            summary = f"{type(error).__name__}: {error}"[:200]
            record.msg, record.args = f"{record.getMessage()} ({summary})", None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


class _MarketbotHandler(logging.StreamHandler):
    """The handler configure_logging installs (recognised so a second call replaces it)."""


def configure_logging(level: str, token: str | None = None) -> logging.Handler:
    """Log to stderr as ``time LEVEL logger: message`` at ``level`` (MARKETBOT_LOG_LEVEL).

    httpx logs every request at INFO with the full URL, which contains the bot token, so its
    loggers are held at WARNING. With ``token``, the handler also redacts it from every record.
    Calling it again replaces the handler it installed before. Raises ValueError for an
    unknown level name.
    """
    name = (level or "INFO").strip().upper()
    levels = logging.getLevelNamesMapping()
    if name not in levels:
        raise ValueError(
            f"unknown log level {level!r}: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MarketbotHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _MarketbotHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if levels[name] > logging.DEBUG:
        handler.addFilter(OneLine())  # before redaction: its summary may hold the token
    if token:
        handler.addFilter(RedactToken(token))
    root.addHandler(handler)
    root.setLevel(levels[name])
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


# -- doctor -------------------------------------------------------------------------------


class Check(NamedTuple):
    status: str  # PASS, FAIL or SKIP
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.detail}"


def _ro_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _writable(folder: Path) -> tuple[bool, str]:
    """Whether files can be created in ``folder`` (or in the nearest existing parent)."""
    if folder.is_dir():
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".marketbot-doctor-")
        except OSError as e:
            return False, f"{folder} is not writable ({e.strerror or e})"
        os.close(fd)
        os.unlink(probe)
        return True, f"{folder} is writable"
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return True, f"{folder} does not exist yet; it will be created (in {parent})"
    return False, f"{folder} does not exist and cannot be created ({parent} is not writable)"


def check_store(db_path: Path, dir_ok: bool) -> Check:
    """Integrity, figures and newest period of an existing store, opened read-only."""
    if not db_path.exists():
        if dir_ok:
            return Check("PASS", "store", f"{db_path} does not exist yet; built on first use")
        return Check("FAIL", "store", f"{db_path} does not exist and its folder is not writable")
    if not db_path.is_file():
        return Check("FAIL", "store", f"{db_path} is not a file")
    try:
        conn = sqlite3.connect(_ro_uri(db_path), uri=True, timeout=10)
    except sqlite3.Error as e:
        return Check("FAIL", "store", f"cannot open {db_path}: {e}")
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
            return Check("FAIL", "store", f"{db_path} is damaged: {shown}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return Check("PASS", "store", f"{db_path} is empty; built on first use")
        if not {"facts", "series"} <= tables:
            return Check("FAIL", "store", f"{db_path} is not a marketbot store (no facts table)")
        figures = conn.execute("SELECT count(*) FROM facts").fetchone()[0]
        newest = conn.execute("SELECT max(last_period) FROM series").fetchone()[0]
        size = db_path.stat().st_size
    except sqlite3.Error as e:  # "file is not a database", "database disk image is malformed"
        return Check("FAIL", "store", f"{db_path} is not a usable SQLite store: {e}")
    finally:
        conn.close()
    return Check(
        "PASS",
        "store",
        f"{db_path}: integrity ok, {plural(figures, 'figure')}, "
        f"newest period {newest or 'none'}, {plural(size, 'byte')}",
    )


def _int_settings() -> list[tuple[str, bool]]:
    """(variable, parses) for the settings Settings.from_env reads as integers."""
    from .config import _parse_ids

    results = []
    for name, parse, default in (
        ("MARKETBOT_ALLOWED_CHATS", _parse_ids, ""),
        ("MARKETBOT_CURATORS", _parse_ids, ""),
        ("MARKETBOT_USER_LIMIT", int, "20"),
        ("MARKETBOT_FOLLOWUP_TTL", int, "1800"),
    ):
        try:
            parse(os.environ.get(name, default))
            results.append((name, True))
        except ValueError:
            results.append((name, False))
    return results


def check_config() -> tuple[Check, Settings | None]:
    """Settings.from_env parses, the log level is known, the webhook secret is valid."""
    from .config import Settings

    try:
        settings = Settings.from_env()
    except ValueError as e:
        culprit = next((name for name, ok in _int_settings() if not ok), "a setting")
        return Check("FAIL", "config", f"{culprit} is not valid: {e}"), None
    problems = []
    if settings.log_level not in logging.getLevelNamesMapping():
        problems.append(f"MARKETBOT_LOG_LEVEL={settings.log_level} is not a log level")
    if settings.webhook_secret and not _SECRET_RE.fullmatch(settings.webhook_secret):
        problems.append(
            "MARKETBOT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    if settings.user_limit_per_minute < 0 or settings.followup_ttl_seconds < 0:
        problems.append("MARKETBOT_USER_LIMIT and MARKETBOT_FOLLOWUP_TTL must not be negative")
    if problems:
        return Check("FAIL", "config", "; ".join(problems)), settings
    chats = (
        "everyone"
        if settings.allowed_chats is None
        else plural(len(settings.allowed_chats), "chat")
    )
    webhook = "secret set" if settings.webhook_secret else "no webhook secret"
    return Check(
        "PASS", "config", f"log level {settings.log_level}, allowed: {chats}, {webhook}"
    ), settings


def run_checks(db_path: Path | None, store_only: bool) -> list[Check]:
    """Every doctor check, in order: config, state directory, store, token, webhook."""
    from .config import default_db_path

    path = Path(db_path or default_db_path()).expanduser()
    config, settings = check_config()
    checks = [config]
    dir_ok, dir_detail = _writable(path.parent)
    checks.append(Check("PASS" if dir_ok else "FAIL", "state-dir", dir_detail))
    checks.append(check_store(path, dir_ok))
    if store_only:
        checks += [Check("SKIP", n, "--store-only") for n in ("token", "webhook")]
    elif settings is None:
        checks += [Check("SKIP", n, "needs a valid config") for n in ("token", "webhook")]
    elif not settings.token:
        checks.append(
            Check(
                "FAIL",
                "token",
                "TELEGRAM_BOT_TOKEN is not set (get one from @BotFather; "
                "use --store-only to check the store alone)",
            )
        )
        checks.append(Check("SKIP", "webhook", "needs a token"))
    else:
        from .telegram.doctor import network_checks  # imports python-telegram-bot

        checks += asyncio.run(network_checks(settings))
    return checks


@click.command()
@db_option
@click.option(
    "--store-only",
    is_flag=True,
    help="Check settings, state directory and store only; no network (for health checks).",
)
def doctor(db_path: Path | None, store_only: bool) -> None:
    """Check the settings, the store, the token and the webhook; exit 1 on any FAIL.

    Prints one line per check: PASS, FAIL or SKIP, the check's name and what was found.
    The token is never printed. The store is opened read-only and never built.

    Example:

        marketbot doctor

        marketbot doctor --store-only --db /var/lib/marketbot/marketbot.db
    """
    redact: Callable[[str], str] = RedactToken(os.environ.get("TELEGRAM_BOT_TOKEN")).redact
    try:
        checks = run_checks(db_path, store_only)
    except Exception as e:  # a bug in a check must still end as a FAIL line, not a traceback
        checks = [Check("FAIL", "doctor", f"unexpected error: {type(e).__name__}: {e}")]
    for check in checks:
        click.echo(redact(check.line()))
    if any(c.status == "FAIL" for c in checks):
        sys.exit(1)


# -- backup -------------------------------------------------------------------------------


def _remove(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def backup_store(source: Path, dest: Path, *, force: bool = False) -> tuple[int, int]:
    """Copy the store at ``source`` to ``dest`` consistently; returns (figures, bytes).

    Uses SQLite's online backup API in one step (a single read transaction, so a consistent
    snapshot even while the bot writes in WAL mode) into a temporary file next to ``dest``,
    checks it, then renames it over ``dest`` atomically. The copy is a single self-contained
    file (rollback journal mode; the bot switches it back to WAL when it opens it), mode 0600
    whatever the store's mode, in folders created 0700.
    """
    if not source.is_file():
        raise click.ClickException(f"no store at {source} (set MARKETBOT_DB or --db)")
    if dest.is_dir():
        raise click.ClickException(f"{dest} is a directory: give the backup's file name")
    if dest.exists() or dest.is_symlink():
        if dest.resolve() == source.resolve():
            raise click.ClickException(f"{dest} is the live store itself")
        if not force:
            raise click.ClickException(f"{dest} exists; use --force to overwrite it")
    make_private_dirs(dest.parent)
    # mkstemp makes the file 0600, and SQLite gives the copy's journal the same mode: the
    # backup holds what the store holds (chat ids, questions), so it is never readable by others.
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.fchmod(fd, 0o600)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            src = sqlite3.connect(_ro_uri(source), uri=True, timeout=30)
        except sqlite3.Error as e:
            raise click.ClickException(f"cannot open {source}: {e}") from None
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)  # pages=-1: everything in one step
                dst.execute("PRAGMA journal_mode=DELETE")
                problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
                if problems != ["ok"]:
                    raise click.ClickException(f"the copy fails integrity_check: {problems[:3]}")
                try:
                    figures = dst.execute("SELECT count(*) FROM facts").fetchone()[0]
                except sqlite3.Error:
                    raise click.ClickException(f"{source} is not a marketbot store") from None
            finally:
                dst.close()
        except sqlite3.Error as e:
            raise click.ClickException(f"backup of {source} failed: {e}") from None
        finally:
            src.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if force:
            _remove(*_sidecars(dest))  # a stale journal must not be applied to the new copy
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp, *_sidecars(tmp))
        raise
    with contextlib.suppress(OSError):  # make the rename durable where directories fsync
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return figures, dest.stat().st_size


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@db_option
def backup(path: Path, force: bool, db_path: Path | None) -> None:
    """Copy the live store to PATH, safely while the bot runs.

    The copy is written next to PATH and renamed into place, so PATH is never half-written.
    An existing PATH is kept unless --force is given. Restore: stop the bot, copy the backup
    over MARKETBOT_DB, delete MARKETBOT_DB-wal and -shm, start it, run `marketbot doctor`.

    Example:

        marketbot backup /var/backups/marketbot/marketbot-$(date +%F).db
    """
    from .config import default_db_path

    source = Path(db_path or default_db_path()).expanduser()
    figures, size = backup_store(source, path.expanduser(), force=force)
    click.echo(f"backed up {source} to {path}: {plural(figures, 'figure')}, {plural(size, 'byte')}")
