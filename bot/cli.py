"""The `marketbot` command line: ask, metrics, ingest, unanswered, run, push, doctor, backup."""

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


from .ops import backup, doctor  # noqa: E402

cli.add_command(doctor)
cli.add_command(backup)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per candidate.")
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the candidates as an ingest CSV to edit (accept yes/no, evidence).",
)
@click.option(
    "--xlsx",
    "xlsx_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the candidates as an ingest XLSX to edit.",
)
@click.option("--title", help="The report's title, if the file does not state it well.")
@click.option("--publisher", help="Who published the report.")
@click.option(
    "--published",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Publication date, YYYY-MM-DD.",
)
@db_option
def extract(
    file: Path,
    as_json: bool,
    csv_out: Path | None,
    xlsx_out: Path | None,
    title: str | None,
    publisher: str | None,
    published,
    db_path: Path | None,
) -> None:
    """Propose a report's figures (txt, md, html, pdf, docx) for review; stores nothing.

    Each candidate shows the sentence it came from. Edit the --csv/--xlsx file (accept
    yes/no), then give it to `marketbot ingest`.

    Example:

        marketbot extract report.pdf --csv candidates.csv

        marketbot extract article.html --json
    """
    from .extract import ExtractError
    from .extract import extract as extract_report
    from .extract.export import review_table, write_csv, write_xlsx
    from .format import dumps

    store = _open(db_path)
    try:
        result = extract_report(
            file,
            store.vocabulary,
            title=title,
            publisher=publisher,
            published=published.date() if published else None,
        )
    except ExtractError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    try:
        if csv_out:
            write_csv(result, csv_out)
        if xlsx_out:
            write_xlsx(result, xlsx_out)
    except OSError as e:
        click.echo(f"error: cannot write {e.filename}: {e.strerror}", err=True)
        sys.exit(1)
    if as_json:
        for c in result.candidates:
            click.echo(dumps(c.as_json()))
    else:
        click.echo(review_table(result))
    missing = [
        name
        for name, value in (
            ("title", result.report.title),
            ("publisher", result.report.publisher),
            ("published", result.report.published),
        )
        if not value
    ]
    if missing and (csv_out or xlsx_out):
        click.echo(
            f"note: the report does not state its {', '.join(missing)}: fill the source_ "
            "column(s) or pass --" + " --".join(missing),
            err=True,
        )
    if not result.candidates:
        click.echo("note: no figures found", err=True)
