"""Settings read from the environment, in one place, so `run`, `doctor` and `push` agree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import click

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"

# The one --db option every command shares.
db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MARKETBOT_DB",
    help="SQLite store (default: $MARKETBOT_DB or marketbot.db in the app directory).",
)


def default_db_path() -> Path:
    """`MARKETBOT_DB`, else marketbot.db in the per-user app directory (click's choice per OS)."""
    env = os.environ.get("MARKETBOT_DB")
    if env:
        return Path(env).expanduser()
    return Path(click.get_app_dir("marketbot")) / "marketbot.db"


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents as 0700 (existing ones are left as they are).

    The store holds chat ids and people's unanswered questions: only its owner may list it.
    """
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for part in reversed(missing):
        try:
            os.mkdir(part, 0o700)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        os.chmod(part, 0o700)  # mkdir's mode is masked by the umask


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (folders 0700) unless it exists already.

    SQLite gives a database's -wal, -shm and -journal files the mode of the database file,
    so a store created here keeps all of them private whatever the process umask is.
    """
    make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away; make it exactly 0600
    finally:
        os.close(fd)


def _parse_ids(raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(";", ",").replace(" ", ",").split(","):
        part = part.strip()
        if part:
            ids.add(int(part))
    return frozenset(ids)


def _int_setting(name: str, raw: str | None, default: str) -> int:
    try:
        return int(raw or default)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def _ids_setting(name: str, raw: str | None) -> frozenset[int] | None:
    raw = (raw or "").strip()
    try:
        return _parse_ids(raw) if raw else None
    except ValueError:
        raise ValueError(f"{name} must be chat ids separated by commas, not {raw!r}") from None


class Settings(NamedTuple):
    """Everything the running bot reads from its environment."""

    token: str | None
    api_base_url: str
    db_path: Path
    allowed_chats: frozenset[int] | None  # None: everyone may ask
    log_level: str
    webhook_secret: str | None
    user_limit_per_minute: int
    followup_ttl_seconds: int
    # Telegram user ids who may upload reports and teach words (MARKETBOT_CURATORS).
    curators: frozenset[int] = frozenset()
    api_file_url: str | None = None  # TELEGRAM_API_FILE_URL; derived from api_base_url if unset

    @classmethod
    def from_env(cls, db_path: Path | None = None) -> Settings:
        """Read the environment; ValueError names the variable that does not parse."""
        return cls(
            token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
            api_base_url=os.environ.get("TELEGRAM_API_BASE_URL") or DEFAULT_API_BASE_URL,
            db_path=db_path or default_db_path(),
            allowed_chats=_ids_setting(
                "MARKETBOT_ALLOWED_CHATS", os.environ.get("MARKETBOT_ALLOWED_CHATS")
            ),
            log_level=(os.environ.get("MARKETBOT_LOG_LEVEL") or "INFO").upper(),
            webhook_secret=os.environ.get("MARKETBOT_WEBHOOK_SECRET") or None,
            user_limit_per_minute=_int_setting(
                "MARKETBOT_USER_LIMIT", os.environ.get("MARKETBOT_USER_LIMIT"), "20"
            ),
            followup_ttl_seconds=_int_setting(
                "MARKETBOT_FOLLOWUP_TTL", os.environ.get("MARKETBOT_FOLLOWUP_TTL"), "1800"
            ),
            curators=_ids_setting("MARKETBOT_CURATORS", os.environ.get("MARKETBOT_CURATORS"))
            or frozenset(),
            api_file_url=os.environ.get("TELEGRAM_API_FILE_URL") or None,
        )

    @property
    def base_file_url(self) -> str:
        """`TELEGRAM_API_FILE_URL`, else PTB's file URL matching `api_base_url`
        (``http://host/bot`` → ``http://host/file/bot``)."""
        if self.api_file_url:
            return self.api_file_url
        if self.api_base_url.endswith("/bot"):
            return self.api_base_url[: -len("/bot")] + "/file/bot"
        return self.api_base_url.rstrip("/") + "/file/bot"
