"""The `marketbot` CLI through click's runner and through the installed command."""

import csv
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_ask_prints_reply(db_path) -> None:
    result = run("ask", "aftermarket DAU Q3")
    assert result.exit_code == 0
    assert "27,200" in result.output and "Q3 2019" in result.output


def test_ask_json_contract(db_path) -> None:
    result = run("ask", "--json", "pan-car users Q2 vs Q3")
    obj = json.loads(result.output)
    assert obj["status"] == "answered" and obj["question"] == "pan-car users Q2 vs Q3"
    assert {(f["period"], f["value"], f["qualifier"]) for f in obj["facts"]} == {
        ("2019Q2", 199000000, "="),
        ("2019Q3", 283000000, "="),
    }
    assert obj["facts"][0]["source"] == {
        "title": "Q3 2019 Pan-Automotive Industry Mini Program Report",
        "publisher": "Aladdin Research Institute",
        "published": "2019-11-11",
    }
    assert obj["changes"] == [
        {
            "metric": "users",
            "segment": "pan_auto",
            "platform": None,
            "from_period": "2019Q2",
            "to_period": "2019Q3",
            "from_value": 199000000,
            "to_value": 283000000,
            "pct": 42.2,
            "approximate": False,
        }
    ]
    assert isinstance(obj["text"], str) and isinstance(obj["suggestions"], list)
    assert obj["chart"] is True


JSON_KEYS = {
    "question", "status", "lang", "facts", "changes", "notes", "available_periods", "missing",
    "text", "suggestions", "chart",
}  # fmt: skip


def test_ask_json_report_text_in_chinese(db_path) -> None:
    result = run("ask", "--json", "后市场 特点")
    # Chinese stays readable in the output, not \u-escaped.
    assert '"question": "后市场 特点"' in result.output and "\\u" not in result.output
    obj = json.loads(result.output)
    assert set(obj) == JSON_KEYS
    assert (obj["status"], obj["lang"], obj["facts"], obj["chart"]) == ("answered", "zh", [], False)
    assert obj["text"].startswith("汽车后市场小程序：特点 (2019年第三季度)\n1. 行业集中度不高")
    assert len(obj["notes"]) == 3
    assert obj["notes"][0] == {
        "segment": "aftermarket",
        "period": "2019Q3",
        "topic": "characteristics",
        "text": "Industry concentration is low: no large-scale players have emerged yet, and "
        "aftermarket mini programs are not yet standardised.",
        "text_zh": "行业集中度不高，尚未出现规模化企业，汽车后市场小程序尚未标准化。",
        "source": {
            "title": "Q3 2019 Pan-Automotive Industry Mini Program Report",
            "publisher": "Aladdin Research Institute",
            "published": "2019-11-11",
        },
    }


def test_ask_json_not_found_lists_periods_and_suggestions(db_path) -> None:
    obj = json.loads(run("ask", "--json", "aftermarket DAU Q1 2019").output)
    assert set(obj) == JSON_KEYS
    assert obj["available_periods"] == ["2019Q2", "2019Q3"]
    assert obj["missing"] == [
        {"metric": "dau", "segment": "aftermarket", "platform": None, "period": "2019Q1"}
    ]
    assert obj["suggestions"] and all(isinstance(s, str) for s in obj["suggestions"])
    assert obj["notes"] == [] and obj["changes"] == []


def test_ask_not_found_exits_zero(db_path) -> None:
    result = run("ask", "--json", "aftermarket DAU Q1 2019")
    obj = json.loads(result.output)
    assert result.exit_code == 0 and obj["status"] == "not_found" and obj["facts"] == []


def test_ask_reads_stdin_one_json_per_line(db_path) -> None:
    result = run("ask", "--json", "-", input="aftermarket DAU Q3\nQ5\n\n")
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert [x["status"] for x in lines] == ["answered", "invalid", "invalid"]


def test_bad_usage_exits_two(db_path) -> None:
    assert run("ask").exit_code == 2
    assert run("ask", "--nope", "x").exit_code == 2
    assert run("ingest").exit_code == 2


def test_metrics_lists_the_store(db_path) -> None:
    result = run("metrics", "--json")
    series = json.loads(result.output)["series"]
    assert len(series) == 11  # 14 figures: three series have two quarters
    dau = next(s for s in series if s["metric"] == "dau")
    assert dau["periods"] == ["2019Q2", "2019Q3"] and dau["sources"] == ["aladdin-2019q3-pan-auto"]
    assert "DAU" in run("metrics").output


def test_ingest_reports_bad_rows_and_exits_one(db_path, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("metric,segment,period,value,unit,source\nusers,pan_auto,2019Q9,1,users,x\n")
    result = CliRunner().invoke(cli, ["ingest", str(bad)])
    assert result.exit_code == 1
    assert "row 2: bad period" in result.output and "nothing was changed" in result.output


def test_unanswered_command(db_path) -> None:
    run("ask", "aftermarket revenue")
    run("ask", "aftermarket revenue")
    out = run("unanswered").output
    assert "aftermarket revenue" in out and out.split()[0] == "2"


def test_installed_command_and_module(db_path, tmp_path) -> None:
    exe = shutil.which("marketbot")
    commands = [[exe]] if exe else []
    commands.append([sys.executable, "-m", "bot"])
    for cmd in commands:
        out = subprocess.run(
            [*cmd, "ask", "--json", "car code cities Alipay"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,  # any directory works
        )
        assert out.returncode == 0, out.stderr
        obj = json.loads(out.stdout)
        assert obj["facts"][0]["value"] == 200 and obj["facts"][0]["qualifier"] == ">"


def test_ask_chart_writes_a_png(db_path, tmp_path) -> None:
    out = tmp_path / "chart.png"
    result = run("ask", "--chart", str(out), "pan-car users Q2 vs Q3")
    assert result.exit_code == 0 and "+42.2%" in result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and 1_000 < len(data) <= 100_000
    single = tmp_path / "single.png"
    result = CliRunner().invoke(cli, ["ask", "--chart", str(single), "aftermarket DAU Q3"])
    assert result.exit_code == 0 and not single.exists()
    assert "no chart for this answer" in result.output


# -- errors: one line, the exit status the README states -----------------------------------


def marketbot(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, prefix=()
) -> subprocess.CompletedProcess:
    """The installed console script (or `python -m bot`), as a user runs it."""
    exe = shutil.which("marketbot")
    cmd = [exe] if exe else [sys.executable, "-m", "bot"]
    return subprocess.run(
        [*prefix, *cmd, *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
        env={**os.environ, **(env or {})},
    )


def one_error_line(proc: subprocess.CompletedProcess, exit_code: int) -> str:
    """The single `Error: …` line a failed command printed (and nothing else on stderr)."""
    assert proc.returncode == exit_code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def test_chart_to_a_missing_folder_is_one_line_exit_one(db_path, tmp_path) -> None:
    target = tmp_path / "no-such-folder" / "chart.png"
    proc = marketbot("ask", "--chart", str(target), "pan-car users Q2 vs Q3")
    line = one_error_line(proc, 1)
    assert line == f"Error: {target}: folder {target.parent} does not exist"
    assert proc.stdout == ""  # checked before answering: no answer without its chart


def test_chart_path_that_is_a_folder_is_one_line_exit_one(db_path, tmp_path) -> None:
    proc = marketbot("ask", "--chart", str(tmp_path), "pan-car users Q2 vs Q3")
    assert one_error_line(proc, 1) == f"Error: {tmp_path}: is a folder, not a file"


def test_missing_input_file_is_one_line_exit_one(fresh_db, tmp_path) -> None:
    missing = tmp_path / "nope.csv"
    proc = marketbot("ingest", str(missing))
    assert one_error_line(proc, 1) == f"Error: {missing}: no such file"


def _without_root_override() -> tuple[str, ...]:
    """A prefix that makes permission bits bind even for root (who otherwise reads anything)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return (setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--")


def test_unreadable_input_file_is_one_line_exit_one_and_changes_nothing(fresh_db, tmp_path) -> None:
    before = fresh_db.count_facts()
    locked = tmp_path / "report.csv"
    locked.write_bytes((REPO / "data" / "sample-ingest.csv").read_bytes())
    locked.chmod(0)
    proc = marketbot("ingest", str(locked), prefix=_without_root_override())
    assert one_error_line(proc, 1) == f"Error: {locked}: permission denied"
    assert fresh_db.count_facts() == before


def test_store_path_that_is_a_folder_is_one_line_exit_one(tmp_path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    proc = marketbot("metrics", "--db", str(folder))
    assert one_error_line(proc, 1) == f"Error: {folder}: is a folder, not a file"
    proc = marketbot("ask", "aftermarket DAU Q3", env={"MARKETBOT_DB": str(folder)})
    assert one_error_line(proc, 1) == f"Error: {folder}: is a folder, not a file"


def test_damaged_store_is_one_line_exit_one(tmp_path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not an SQLite file\n" * 100)
    proc = marketbot("ask", "aftermarket DAU Q3", "--db", str(bad))
    assert one_error_line(proc, 1) == f"Error: store {bad}: file is not a database"


def test_locked_store_still_answers_and_refuses_writes_in_one_line(fresh_db, db_path) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the store, e.g. a long ingest
    try:
        # Answering never waits on a writer: the unanswered-question log is kept for later.
        proc = marketbot("ask", "aftermarket revenue")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout.startswith("No figure for “revenue”")
        # Reading is not blocked (WAL): what the store can answer is still listed.
        assert marketbot("metrics").returncode == 0
        # A write cannot wait forever: one line, exit 1, nothing written.
        proc = marketbot("ingest", str(REPO / "data" / "sample-ingest.csv"))
        line = one_error_line(proc, 1)
        assert "locked" in line, line
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "2019Q4" not in marketbot("metrics").stdout


def test_run_without_network_is_one_error_line_exit_one(db_path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "TELEGRAM_BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ",
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "MARKETBOT_LOG_LEVEL": "INFO",
    }
    proc = marketbot("run", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert (
        lines[-1].startswith("Error: cannot reach the Bot API at ")
        and "connect" in lines[-1].lower()
    )
    # Everything before it is a one-line log record (no traceback lines in between).
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", x) for x in lines[:-1])


def test_usage_errors_exit_two_with_one_error_line(db_path) -> None:
    for args in (["ask", "--nope", "x"], ["ingest"], ["unanswered", "--limit", "-1"]):
        proc = marketbot(*args)
        assert proc.returncode == 2, args
        assert [x for x in proc.stderr.splitlines() if x.startswith("Error: ")], args
        assert len([x for x in proc.stderr.splitlines() if "Error" in x]) == 1, proc.stderr
    proc = marketbot("run", env={"TELEGRAM_BOT_TOKEN": ""})
    assert one_error_line(proc, 2).startswith("Error: TELEGRAM_BOT_TOKEN is not set")


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_columns_stay_aligned_around_chinese_names(db_path) -> None:
    from wcwidth import wcswidth

    lines = run("metrics").output.splitlines()
    header, rule, rows = lines[0], lines[1], lines[2:]
    assert header.split() == ["metric", "market", "platform", "periods", "source"]
    assert any("乘车码" in r for r in rows) and len(rows) == 11
    # Every column starts at the same screen column (Chinese characters are two columns wide).
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    for row in rows:
        cells = re.split(r"\s{2,}", row.strip())
        assert cells[-1] == "aladdin-2019q3-pan-auto"
        assert wcswidth(row[: row.index("2019Q")]) == starts[3], row
        assert wcswidth(row[: row.index("aladdin")]) == starts[4], row


def _ingest_history(store, tmp_path) -> None:
    from bot.ingest import ingest_file

    path = tmp_path / "history.csv"
    head = "metric,segment,platform,period,value,qualifier,unit,source,source_title,"
    head += "source_publisher,source_published\n"
    src = "hist,History of pan-auto mini programs,Sample Research,2020-03-01"
    rows = [
        f"users,pan_auto,,{p},{v},=,users,{src}"
        for p, v in (
            ("2018Q1", 100000000),
            ("2018Q2", 120000000),
            ("2018Q3", 140000000),
            ("2018Q4", 160000000),
            ("2019Q1", 180000000),
        )
    ]
    rows.append(f"dau,aftermarket,,2018Q4,20000,=,users,{src}")
    path.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    ingest_file(store, path)


def test_metrics_shows_runs_of_quarters_compactly(fresh_db, tmp_path) -> None:
    _ingest_history(fresh_db, tmp_path)
    out = run("metrics").output
    users = next(x for x in out.splitlines() if x.startswith("users ") and "Pan-auto" in x)
    assert "2018Q1–2019Q3" in users and "2018Q2" not in users  # one run, not nine labels
    dau = next(x for x in out.splitlines() if x.startswith("DAU "))
    assert "2018Q4, 2019Q2–2019Q3" in dau  # a comma only where a quarter is missing
    assert "aladdin-2019q3-pan-auto, hist" in users


def test_period_runs() -> None:
    from bot.cli_text import period_runs

    assert period_runs([]) == ""
    assert period_runs(["2019Q3"]) == "2019Q3"
    assert period_runs(["2019Q4", "2019Q2", "2019Q3"]) == "2019Q2–2019Q4"
    assert period_runs(["2018Q4", "2019Q1", "2019Q3"]) == "2018Q4–2019Q1, 2019Q3"
    assert period_runs(["2018Q1", "2018Q3", "2019Q3"]) == "2018Q1, 2018Q3, 2019Q3"


def test_metrics_csv_tsv_and_json_give_keys_and_every_period(fresh_db, tmp_path) -> None:
    _ingest_history(fresh_db, tmp_path)
    series = json.loads(run("metrics", "--json").output)["series"]
    for flag, delimiter in (("--csv", ","), ("--tsv", "\t")):
        result = run("metrics", flag)
        assert result.exit_code == 0
        rows = list(csv.DictReader(io.StringIO(result.output), delimiter=delimiter))
        assert list(rows[0]) == ["metric", "segment", "platform", "unit", "periods", "sources"]
        assert len(rows) == len(series) == 11
        users = next(r for r in rows if (r["metric"], r["segment"]) == ("users", "pan_auto"))
        assert users["periods"].split(",") == [
            f"{y}Q{q}"
            for y, q in [
                (2018, 1),
                (2018, 2),
                (2018, 3),
                (2018, 4),
                (2019, 1),
                (2019, 2),
                (2019, 3),
            ]
        ]
        assert users["sources"] == "aladdin-2019q3-pan-auto,hist" and users["platform"] == ""
        ride = next(r for r in rows if r["segment"] == "ride_code" and r["metric"] == "provinces")
        assert (ride["platform"], ride["unit"], ride["periods"]) == (
            "wechat",
            "provinces",
            "2019Q3",
        )
    result = CliRunner().invoke(cli, ["metrics", "--json", "--csv"])
    assert result.exit_code == 2 and "choose one of --json, --csv and --tsv" in result.output


# -- plurals, piped questions, unanswered, push ---------------------------------------------


def test_plural() -> None:
    from bot.cli_text import plural

    assert [plural(n, "chat") for n in (0, 1, 2)] == ["0 chats", "1 chat", "2 chats"]
    assert plural(1, "row") == "1 row" and plural(1000, "row") == "1,000 rows"
    assert plural(1, "pending update") == "1 pending update"


def test_push_counts_chats_in_words_and_warns_when_nobody_subscribed(fresh_db) -> None:
    from bot import subscriptions

    result = CliRunner().invoke(cli, ["push", "--period", "2019Q3"])
    assert result.exit_code == 0 and result.stdout == "queued push 1 to 0 chats\n"
    assert result.stderr.startswith("warning: no chat is subscribed to anything")

    subscriptions.subscribe(fresh_db, 42, "aftermarket")
    result = CliRunner().invoke(cli, ["push", "--topic", "ride code"])
    assert result.exit_code == 0 and result.stdout == "queued push 2 to 0 chats\n"
    assert result.stderr.startswith("warning: no chat is subscribed to ride code")

    result = CliRunner().invoke(cli, ["push", "--topic", "后市场"])
    assert result.exit_code == 0 and result.stdout == "queued push 3 to 1 chat\n"
    assert result.stderr == ""


def test_piped_questions_are_headed_and_set_apart(db_path) -> None:
    questions = ["aftermarket DAU Q3", "pan-car users Q2 vs Q3", "aftermarket revenue"]
    proc = marketbot("ask", "-", input="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    headings = [x for x in out.splitlines() if x.startswith("> ")]
    assert headings == [f"> {q}" for q in questions]
    blocks = re.split(r"^> .*\n", out, flags=re.M)
    assert blocks[0] == ""
    first, second, third = blocks[1:]
    assert "27,200" in first and "199" not in first
    assert "+42.2%" in second and "27,200" not in second
    assert "27,200" not in third and "+42.2%" not in third
    assert first.endswith("\n\n") and second.endswith("\n\n")  # a blank line before the next
    assert not third.endswith("\n\n")


def test_unanswered_limit_zero_shows_all(db_path) -> None:
    for question in ("aftermarket revenue", "ride code profit", "overseas taxi margin"):
        run("ask", question)
    result = run("unanswered", "--limit", "0")
    assert result.exit_code == 0 and "No unanswered" not in result.output
    assert len(result.output.splitlines()) == 3
    assert len(run("unanswered", "--limit", "2").output.splitlines()) == 2
    assert "0 shows all" in run("unanswered", "--help").output
    assert CliRunner().invoke(cli, ["unanswered", "--limit", "-1"]).exit_code == 2


def test_doctor_and_backup_count_in_words(fresh_db, db_path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MARKETBOT_ALLOWED_CHATS", "42")
    out = run("doctor", "--store-only").output
    assert "allowed: 1 chat, " in out and "14 figures" in out
    monkeypatch.setenv("MARKETBOT_ALLOWED_CHATS", "42,-1001")
    assert "allowed: 2 chats, " in run("doctor", "--store-only").output
    result = run("backup", str(tmp_path / "copy.db"))
    assert re.search(r": 14 figures, [\d,]+ bytes$", result.output.strip()), result.output
