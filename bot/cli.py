"""The `marketbot` command line: ask, metrics, ingest, unanswered, run, push, doctor, backup."""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from . import __version__
from .config import db_option

if TYPE_CHECKING:
    from .config import Settings
    from .telegram.failures import Failure


def _open(db_path: Path | None):
    from .config import default_db_path
    from .db import open_store

    try:
        return open_store(db_path or default_db_path())
    except Exception as e:  # a store we cannot open is a usage problem, not a crash
        raise click.ClickException(
            f"cannot open the store {db_path or default_db_path()}: {e}"
        ) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marketbot")
def cli() -> None:
    """Exact, sourced market figures from industry research reports."""


@cli.command()
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the answer's chart (PNG) here when it has one.",
)
@db_option
def ask(
    question: tuple[str, ...], as_json: bool, chart_path: Path | None, db_path: Path | None
) -> None:
    """Answer a market question.

    Use "-" as the question to read one question per line from standard input.

    Example:

        marketbot ask "aftermarket DAU Q3"

        marketbot ask --json "泛汽车小程序用户 三季度"
    """
    from .answer import ask as answer_question
    from .format import answer_json, dumps, render_text

    if not question:
        raise click.UsageError('give a question, e.g. marketbot ask "aftermarket DAU Q3"')
    store = _open(db_path)
    texts = (
        [line.rstrip("\n") for line in sys.stdin] if question == ("-",) else [" ".join(question)]
    )
    for text in texts:
        answer = answer_question(text, store, chat_kind="cli")
        reply = render_text(answer, store.vocabulary)
        has_chart = False
        if chart_path is not None or as_json:
            from .chart_spec import has_chart as chart_exists

            has_chart = chart_exists(answer)
        if chart_path is not None:
            from .chart_draw import render_chart

            png = render_chart(answer, labels=store.vocabulary.label) if has_chart else None
            if png:
                chart_path.write_bytes(png)
            elif not as_json:
                click.echo("(no chart for this answer)", err=True)
        if as_json:
            click.echo(dumps(answer_json(answer, reply, has_chart=has_chart)))
        else:
            click.echo(reply)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def metrics(as_json: bool, db_path: Path | None) -> None:
    """List what the store can answer: metric, segment, platform, periods, source.

    Example:

        marketbot metrics
    """
    from .format import dumps

    store = _open(db_path)
    rows = store.catalogue()
    if as_json:
        click.echo(dumps({"series": rows}))
        return
    v = store.vocabulary
    for r in rows:
        where = v.label("segment", r["segment"], "en")
        if r["platform"]:
            where += " / " + v.label("platform", r["platform"], "en")
        click.echo(
            f"{v.label('metric', r['metric'], 'en', short=True):<10} {where:<45} "
            f"{','.join(r['periods']):<16} {','.join(r['sources'])}"
        )


@cli.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--announce",
    is_flag=True,
    help="Queue a push to subscribers when a file brings a newer period.",
)
@db_option
def ingest(files: tuple[Path, ...], announce: bool, db_path: Path | None) -> None:
    """Add a report's figures from CSV or XLSX files (each file all or nothing).

    Example:

        marketbot ingest data/sample-ingest.csv
    """
    from .ingest import IngestError, ingest_file

    store = _open(db_path)
    failed = False
    for path in files:
        try:
            result = ingest_file(store, path)
        except IngestError as e:
            click.echo(e.report(), err=True)
            failed = True
            continue
        click.echo(result.summary())
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if announce and result.new_periods:
            _announce(store, result.new_periods)
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--webhook-url",
    help="Public HTTPS URL for Telegram to post updates to (webhook mode; default: long polling).",
)
@click.option("--listen", default="127.0.0.1", show_default=True, help="Webhook listen address.")
@click.option(
    "--port",
    default=8443,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Webhook listen port.",
)
@db_option
def run(webhook_url: str | None, listen: str, port: int, db_path: Path | None) -> None:
    """Run the Telegram bot (needs TELEGRAM_BOT_TOKEN).

    Example:

        TELEGRAM_BOT_TOKEN=123:abc marketbot run
    """

    settings = _settings(db_path)
    if not settings.token:
        click.echo("error: TELEGRAM_BOT_TOKEN is not set (get a token from @BotFather)", err=True)
        sys.exit(2)
    from .ops import RedactToken, configure_logging
    from .telegram.app import run as run_bot
    from .telegram.failures import BotApiFailure

    if webhook_url and not settings.webhook_secret:  # made here so the logs can redact it
        settings = settings._replace(webhook_secret=secrets.token_urlsafe(32))
    try:
        handler = configure_logging(settings.log_level, token=settings.token)
    except ValueError as e:
        click.echo(f"error: MARKETBOT_LOG_LEVEL: {e}", err=True)
        sys.exit(2)
    if settings.webhook_secret:  # PTB logs setWebhook's parameters at DEBUG
        handler.addFilter(RedactToken(settings.webhook_secret))
    store = _open(settings.db_path)
    try:
        run_bot(settings, store, webhook_url=webhook_url, listen=listen, port=port)
    except BotApiFailure as e:
        _fail(e.failure, settings.token)


def _settings(db_path: Path | None) -> Settings:
    """The environment's settings, or exit 2 with the variable that does not parse."""
    from .config import Settings

    try:
        return Settings.from_env(db_path)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


def _fail(failure: Failure, token: str | None) -> NoReturn:
    """Print a Bot API failure as one line, the token redacted, and exit with its status."""
    from .ops import RedactToken

    click.echo(f"error: {RedactToken(token).redact(failure.message)}", err=True)
    sys.exit(failure.exit_code)


def _announce(store, periods: list[str]) -> None:
    try:
        from .subscriptions import queue_push
    except ImportError:  # pushes arrive with the subscriptions feature
        click.echo("note: pushes are not available in this build", err=True)
        return

    allowed = _settings(None).allowed_chats  # no push for a chat that may not ask
    for period in periods:
        push_id, chats = queue_push(store, period=period, allowed=allowed)
        click.echo(f"queued push {push_id} for {period} to {chats} chat(s)")


@cli.command()
@click.option("--period", help="Quarter to summarise, e.g. 2019Q3 (default: the newest stored).")
@click.option("--topic", help="Only this market, e.g. aftermarket or 后市场 (default: all).")
@click.option("--status", "show_status", is_flag=True, help="Show each push's delivery counts.")
@click.option(
    "--drain", is_flag=True, help="Deliver the outbox now, without a running bot (needs a token)."
)
@db_option
def push(
    period: str | None, topic: str | None, show_status: bool, drain: bool, db_path: Path | None
) -> None:
    """Queue a quarterly summary for subscribers, show delivery status, or deliver it.

    Example:

        marketbot push --period 2019Q3

        marketbot push --status

        TELEGRAM_BOT_TOKEN=123:abc marketbot push --drain
    """
    from . import subscriptions as pushes

    settings = _settings(db_path)
    store = _open(settings.db_path)
    pushes.ensure_schema(store)
    if show_status or drain:
        if period or topic:
            raise click.UsageError(
                "--period/--topic queue a push; use them without --status/--drain"
            )
    else:
        try:
            push_id, chats = pushes.queue_push(
                store, period=period, topic=topic, allowed=settings.allowed_chats
            )
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"queued push {push_id} to {chats} chat(s)")
        return
    if drain:
        if not settings.token:
            click.echo("error: TELEGRAM_BOT_TOKEN is not set", err=True)
            sys.exit(2)
        from .ops import configure_logging
        from .telegram.delivery import cli_drain
        from .telegram.failures import explain

        try:  # the token is redacted from every log line, and no traceback below DEBUG
            configure_logging(settings.log_level, token=settings.token)
        except ValueError as e:
            click.echo(f"error: MARKETBOT_LOG_LEVEL: {e}", err=True)
            sys.exit(2)
        try:
            stats = cli_drain(store, settings, click.progressbar)
        except Exception as e:
            logging.getLogger("marketbot").debug("push --drain failed", exc_info=e)
            _fail(explain(e, settings.api_base_url), settings.token)
        click.echo(
            f"sent {stats.sent}, failed {stats.failed}, retried {stats.retried}, "
            f"rate-limited {stats.rate_limited}, migrated {stats.migrated}"
        )
    rows = pushes.push_status(store)
    if not rows:
        click.echo("No pushes queued yet.")
    for r in rows:
        click.echo(
            f"push {r['id']:>4}  {r['period']}  {r['topic']:<14} {r['status']:<8} "
            f"delivered {r['delivered']:>6}  pending {r['pending']:>6}  failed {r['failed']:>6}"
        )


@cli.command()
@click.option("--limit", default=30, show_default=True, help="How many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def unanswered(limit: int, as_json: bool, db_path: Path | None) -> None:
    """Questions that got no answer, most frequent first.

    Example:

        marketbot unanswered --limit 10
    """
    from .format import dumps

    store = _open(db_path)
    rows = store.unanswered(limit)
    if as_json:
        click.echo(dumps({"unanswered": rows}))
        return
    if not rows:
        click.echo("No unanswered questions recorded.")
    for r in rows:
        click.echo(f"{r['count']:>5}  {r['status']:<10} {r['chat_kinds']:<12} {r['question']}")


from .ops import backup, doctor  # noqa: E402

cli.add_command(doctor)
cli.add_command(backup)
