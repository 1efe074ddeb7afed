"""The `marketbot` command line: ask, metrics, ingest, unanswered, run, push, doctor, backup,
teach, terms, history."""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .cli_text import period_runs, plural
from .config import db_option

if TYPE_CHECKING:
    from .config import Settings
    from .telegram.failures import Failure

# How long a command waits for another process (the bot, an ingest) to release the store
# before it says "locked": writes take milliseconds, so a longer wait means something is stuck.
STORE_BUSY_TIMEOUT_MS = 5000


class UsageFailure(click.ClickException):
    """A one-line error with exit status 2 (bad usage), without click's usage banner."""

    exit_code = 2


class BotApiError(click.ClickException):
    """A failure talking to the Bot API, as one line with the token redacted.

    Exit 2 when a setting must be fixed (token, URL), 1 when a retry may work (network).
    """

    def __init__(self, failure: Failure, token: str | None) -> None:
        from .ops import RedactToken

        super().__init__(RedactToken(token).redact(failure.message))
        self.exit_code = failure.exit_code


def describe_failure(e: BaseException, store_path: Path | None) -> str:
    """``<what>: <why>`` for a failure of the environment: a file, the store, the network."""
    if isinstance(e, sqlite3.Error):
        what = f"store {store_path}" if store_path else "store"
        why = str(e)
        if "locked" in why or "busy" in why:
            why = "database is locked by another process (the bot or an ingest); try again"
        return f"{what}: {why}"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    from .ops import is_network_error

    if is_network_error(e):
        return f"Telegram Bot API: {e} (is the network up? `marketbot doctor` checks it)"
    return f"unexpected {type(e).__name__}: {e} (MARKETBOT_LOG_LEVEL=DEBUG shows the traceback)"


# click.Path's checks say "File 'x.csv' does not exist." and the like; reworded to "<what>: <why>".
_CLICK_PATH_PROBLEM = re.compile(r"""^\w+ (['"])(?P<name>.*)\1 (?P<why>.+?)\.?$""")
_PATH_PROBLEM_WORDING = {
    "does not exist": "no such file",
    "is a directory": "is a folder, not a file",
    "is not readable": "permission denied",
    "is not writable": "permission denied",
}


def _file_problem(message: str) -> str:
    m = _CLICK_PATH_PROBLEM.match(message)
    if not m:
        return message
    return f"{m['name']}: {_PATH_PROBLEM_WORDING.get(m['why'], m['why'])}"


class MarketbotGroup(click.Group):
    """click's group, with failures reported as one ``Error: <what>: <why>`` line, exit 1.

    Covers every command, including ones added later: an unreadable file, a locked or damaged
    store, no network. No traceback reaches the user unless MARKETBOT_LOG_LEVEL=DEBUG.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as e:
            missing = isinstance(e, click.MissingParameter)
            if not missing and e.param is not None and isinstance(e.param.type, click.Path):
                # A named file that is missing, unreadable or a folder: a failure, not a typo
                # in the command, so one line and exit 1 (click's default is 2 with usage).
                raise click.ClickException(_file_problem(e.message)) from None
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            if isinstance(e, OSError) and e.errno == errno.EPIPE:
                raise  # click quietly handles a closed pipe (`marketbot metrics | head`)
            if os.environ.get("MARKETBOT_LOG_LEVEL", "").strip().upper() == "DEBUG":
                raise
            raise click.ClickException(describe_failure(e, ctx.meta.get("marketbot.store"))) from e


def _open(db_path: Path | None):
    from .config import default_db_path
    from .db import open_store

    path = db_path or default_db_path()
    click.get_current_context().meta["marketbot.store"] = path
    if path.parent.exists() and not path.parent.is_dir():
        raise click.ClickException(f"store {path}: {path.parent} is a file, not a folder")
    try:
        store = open_store(path)
    except Exception as e:  # a store we cannot open is a failure, not a crash
        raise click.ClickException(describe_failure(e, path)) from None
    store.conn.execute(f"PRAGMA busy_timeout = {STORE_BUSY_TIMEOUT_MS}")
    return store


@click.group(cls=MarketbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marketbot")
def cli() -> None:
    """Exact, sourced market figures from industry research reports.

    Exit status: 0 for every answer (found or not), 2 for bad usage, 1 for a failure such as
    an unreadable file, a locked or damaged store, or no network.
    """


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

    Use "-" as the question to read one question per line from standard input: each answer
    is headed by its question ("> question"), with a blank line before the next; with --json,
    one object per line.

    Example:

        marketbot ask "aftermarket DAU Q3"

        marketbot ask --json "泛汽车小程序用户 三季度"
    """
    from .answer import ask as answer_question
    from .format import answer_json, dumps, render_text

    if not question:
        raise click.UsageError('give a question, e.g. marketbot ask "aftermarket DAU Q3"')
    if chart_path is not None and not chart_path.parent.is_dir():
        # Checked before answering, so nothing is printed for a chart that cannot be written.
        raise click.ClickException(f"{chart_path}: folder {chart_path.parent} does not exist")
    store = _open(db_path)
    piped = question == ("-",)
    texts = [line.rstrip("\n") for line in sys.stdin] if piped else [" ".join(question)]
    for number, text in enumerate(texts):
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
            continue
        if piped:
            if number:
                click.echo()
            click.secho(f"> {text}", bold=True)
        click.echo(reply)


METRICS_COLUMNS = ("metric", "segment", "platform", "unit", "periods", "sources")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help='Print JSON: {"series": [...]}.')
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@click.option("--tsv", "as_tsv", is_flag=True, help="Print tab-separated values with a header row.")
@db_option
def metrics(as_json: bool, as_csv: bool, as_tsv: bool, db_path: Path | None) -> None:
    """List what the store can answer: metric, market, platform, periods, source.

    The table shows runs of consecutive quarters as 2019Q2–2019Q4; --json, --csv and --tsv
    give keys (as in data/facts.csv) and every period.

    Example:

        marketbot metrics

        marketbot metrics --csv > metrics.csv
    """
    if as_json + as_csv + as_tsv > 1:
        raise click.UsageError("choose one of --json, --csv and --tsv")
    from .format import dumps

    store = _open(db_path)
    rows = store.catalogue()
    if as_json:
        click.echo(dumps({"series": rows}))
        return
    if as_csv or as_tsv:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, dialect="excel-tab" if as_tsv else "excel", lineterminator="\n")
        writer.writerow(METRICS_COLUMNS)
        for r in rows:
            periods, sources = ",".join(r["periods"]), ",".join(r["sources"])
            writer.writerow(
                [r["metric"], r["segment"], r["platform"] or "", r["unit"], periods, sources]
            )
        click.echo(out.getvalue(), nl=False)
        return
    if not rows:
        click.echo("The store holds no figures yet; add some with marketbot ingest FILE.")
        return
    from tabulate import tabulate

    v = store.vocabulary
    table = [
        [
            v.label("metric", r["metric"], "en", short=True),
            v.label("segment", r["segment"], "en"),
            v.label("platform", r["platform"], "en") if r["platform"] else "",
            period_runs(r["periods"]),
            ", ".join(r["sources"]),
        ]
        for r in rows
    ]
    # tabulate measures Chinese characters as two columns wide (wcwidth), keeping columns aligned.
    click.echo(tabulate(table, headers=["metric", "market", "platform", "periods", "source"]))


@cli.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--announce",
    is_flag=True,
    help="Queue a push to subscribers when a file brings a newer period.",
)
@click.option("--dry-run", is_flag=True, help="Check and preview each file; write nothing.")
@click.option(
    "--new-keys",
    is_flag=True,
    help="Accept metric, segment or platform keys the store does not know, without names.",
)
@click.option(
    "--replace-source",
    is_flag=True,
    help="Let a file change an existing source's title, publisher or date (old values kept).",
)
@db_option
def ingest(
    files: tuple[Path, ...],
    announce: bool,
    dry_run: bool,
    new_keys: bool,
    replace_source: bool,
    db_path: Path | None,
) -> None:
    """Add a report's figures from CSV or XLSX files (each file all or nothing).

    Example:

        marketbot ingest --dry-run data/sample-ingest.csv && marketbot ingest data/sample-ingest.csv
    """
    from .history import cli_user
    from .ingest import IngestError, apply_ingest, plan_ingest

    store = _open(db_path)
    failed = False
    try:
        for path in files:
            try:
                plan = plan_ingest(store, path, new_keys=new_keys, replace_source=replace_source)
                if dry_run:
                    plan.discard()
                    if not plan.ok:
                        raise IngestError(f"{plan.file}: would be refused", plan.errors)
                    click.echo(plan.preview() + "\n(dry run: nothing was written)")
                    continue
                result = apply_ingest(store, plan, who=cli_user())
            except IngestError as e:
                click.echo(f"Error: {e.report()}", err=True)
                failed = True
                continue
            click.echo(result.summary())
            for key in result.new_keys:
                names = f" ({key.en} / {key.zh})" if key.en else ""
                click.echo(f"new {key.kind}: {key.key}{names}")
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
            if announce and result.new_periods:
                _announce(store, result.new_periods)
    finally:
        store.close()
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
        raise UsageFailure("TELEGRAM_BOT_TOKEN is not set (get a token from @BotFather)")
    from .ops import RedactToken, configure_logging
    from .telegram.app import run as run_bot
    from .telegram.failures import BotApiFailure

    if webhook_url and not settings.webhook_secret:  # made here so the logs can redact it
        settings = settings._replace(webhook_secret=secrets.token_urlsafe(32))
    try:
        handler = configure_logging(settings.log_level, token=settings.token)
    except ValueError as e:
        raise UsageFailure(f"MARKETBOT_LOG_LEVEL: {e}") from None
    if settings.webhook_secret:  # PTB logs setWebhook's parameters at DEBUG
        handler.addFilter(RedactToken(settings.webhook_secret))
    store = _open(settings.db_path)
    try:
        run_bot(settings, store, webhook_url=webhook_url, listen=listen, port=port)
    except BotApiFailure as e:
        raise BotApiError(e.failure, settings.token) from None


def _settings(db_path: Path | None) -> Settings:
    """The environment's settings; exit 2 naming the variable that does not parse."""
    from .config import Settings

    try:
        return Settings.from_env(db_path)
    except ValueError as e:
        raise UsageFailure(str(e)) from None


def _announce(store, periods: list[str]) -> None:
    try:
        from .subscriptions import queue_push
    except ImportError:  # pushes arrive with the subscriptions feature
        click.echo("note: pushes are not available in this build", err=True)
        return
    allowed = _settings(None).allowed_chats  # no push for a chat that may not ask
    for period in periods:
        push_id, chats = queue_push(store, period=period, allowed=allowed)
        click.echo(f"queued push {push_id} for {period} to {plural(chats, 'chat')}")
        if not chats:
            _warn_nobody_subscribed(push_id, None)


def _warn_nobody_subscribed(push_id: int, topic: str | None) -> None:
    what = f"to {topic}" if topic else "to anything"
    click.echo(
        f"warning: no chat is subscribed {what}, so push {push_id} reaches nobody "
        "(chats subscribe with /subscribe)",
        err=True,
    )


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
        click.echo(f"queued push {push_id} to {plural(chats, 'chat')}")
        if not chats:
            _warn_nobody_subscribed(push_id, topic)
        return
    if drain:
        if not settings.token:
            raise UsageFailure("TELEGRAM_BOT_TOKEN is not set (--drain delivers through the bot)")
        from .ops import configure_logging
        from .telegram.delivery import cli_drain
        from .telegram.failures import explain

        try:  # the token is redacted from every log line, and no traceback below DEBUG
            configure_logging(settings.log_level, token=settings.token)
        except ValueError as e:
            raise UsageFailure(f"MARKETBOT_LOG_LEVEL: {e}") from None
        try:
            stats = cli_drain(store, settings, click.progressbar)
        except click.ClickException:
            raise  # already one line (another deliverer is running)
        except Exception as e:
            logging.getLogger("marketbot").debug("push --drain failed", exc_info=e)
            raise BotApiError(explain(e, settings.api_base_url), settings.token) from None
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
@click.option(
    "--limit",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many questions to show; 0 shows all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def unanswered(limit: int, as_json: bool, db_path: Path | None) -> None:
    """Questions that got no answer, most frequent first.

    Example:

        marketbot unanswered --limit 10
    """
    from .format import dumps

    store = _open(db_path)
    rows = store.unanswered(limit or -1)  # SQLite's LIMIT -1: no limit
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
