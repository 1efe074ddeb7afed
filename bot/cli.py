"""The `marketbot` command line: ask, metrics, ingest, unanswered, run, push, doctor, backup,
teach, terms, history."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .config import db_option


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
    from .curation import import_file
    from .history import cli_user
    from .ingest import IngestError

    store = _open(db_path)
    failed = False
    for path in files:
        try:
            imported = import_file(store, path, who=cli_user())
        except IngestError as e:
            click.echo(e.report(), err=True)
            failed = True
            continue
        result = imported.result
        click.echo(imported.summary())
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
    from .config import Settings

    settings = Settings.from_env(db_path)
    if not settings.token:
        click.echo("error: TELEGRAM_BOT_TOKEN is not set (get a token from @BotFather)", err=True)
        sys.exit(2)
    from .ops import configure_logging
    from .telegram.app import run as run_bot

    try:
        configure_logging(settings.log_level, token=settings.token)
    except ValueError as e:
        click.echo(f"error: MARKETBOT_LOG_LEVEL: {e}", err=True)
        sys.exit(2)
    store = _open(settings.db_path)
    run_bot(settings, store, webhook_url=webhook_url, listen=listen, port=port)


def _announce(store, periods: list[str]) -> None:
    try:
        from .subscriptions import queue_push
    except ImportError:  # pushes arrive with the subscriptions feature
        click.echo("note: pushes are not available in this build", err=True)
        return
    for period in periods:
        push_id, chats = queue_push(store, period=period)
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
    from .config import Settings

    settings = Settings.from_env(db_path)
    store = _open(settings.db_path)
    pushes.ensure_schema(store)
    if show_status or drain:
        if period or topic:
            raise click.UsageError(
                "--period/--topic queue a push; use them without --status/--drain"
            )
    else:
        try:
            push_id, chats = pushes.queue_push(store, period=period, topic=topic)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"queued push {push_id} to {chats} chat(s)")
        return
    if drain:
        if not settings.token:
            click.echo("error: TELEGRAM_BOT_TOKEN is not set", err=True)
            sys.exit(2)
        from .telegram.delivery import cli_drain

        stats = cli_drain(store, settings, click.progressbar)
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


@cli.command()
@click.argument("phrase")
@click.argument("key", required=False)
@click.option("--remove", is_flag=True, help="Take back a phrase taught before.")
@db_option
def teach(phrase: str, key: str | None, remove: bool, db_path: Path | None) -> None:
    """Teach the bot that PHRASE means KEY (a key such as pan_auto, or kind:key).

    A phrase that already means something else is refused. A running bot uses the new word
    at once.

    Example:

        marketbot teach 车后 aftermarket

        marketbot teach "car aftersales" segment:aftermarket

        marketbot teach 车后 --remove
    """
    from .history import cli_user
    from .teaching import TeachError, forget
    from .teaching import teach as teach_phrase

    if not remove and not key:
        raise click.UsageError(
            "give the KEY the phrase means, e.g. marketbot teach 车后 aftermarket"
        )
    if remove and key:
        raise click.UsageError("--remove takes only the PHRASE")
    store = _open(db_path)
    try:
        message = (
            forget(store, phrase, cli_user())
            if remove
            else teach_phrase(store, phrase, key or "", cli_user()).message
        )
    except TeachError as e:
        raise click.ClickException(str(e)) from None
    click.echo(message)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def terms(as_json: bool, db_path: Path | None) -> None:
    """List the vocabulary: terms (display names) and synonyms, with where each came from.

    Example:

        marketbot terms --json
    """
    from .format import dumps
    from .teaching import vocabulary_rows

    store = _open(db_path)
    rows = vocabulary_rows(store)
    if as_json:
        click.echo(dumps(rows))
        return

    def origin(r: dict) -> str:
        return r["origin"] + (f" ({r['who']}, {r['at']})" if r["who"] else "")

    click.echo("Terms (kind, key, English, Chinese, origin):")
    for r in rows["terms"]:
        click.echo(f"  {r['kind']:<9} {r['key']:<16} {r['en']} / {r['zh']}  [{origin(r)}]")
    click.echo("Synonyms (kind, key, phrase, origin):")
    for r in rows["synonyms"]:
        click.echo(f"  {r['kind']:<9} {r['key'] or '-':<16} {r['phrase']}  [{origin(r)}]")


@cli.command("history")
@click.option("--limit", default=50, show_default=True, help="How many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def history_command(limit: int, as_json: bool, db_path: Path | None) -> None:
    """What curators changed — imports, taught and forgotten words — newest first.

    Example:

        marketbot history --limit 20
    """
    from .format import dumps
    from .history import entries

    store = _open(db_path)
    rows = entries(store, limit)
    if as_json:
        click.echo(dumps({"history": rows}))
        return
    if not rows:
        click.echo("Nothing recorded yet.")
    for r in rows:
        click.echo(f"{r['at']}  {r['who']:<28} {r['action']:<7} {r['what']}")


from .ops import backup, doctor  # noqa: E402

cli.add_command(doctor)
cli.add_command(backup)
