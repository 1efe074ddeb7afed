"""The `marketbot` CLI through click's runner and through the installed command."""

import json
import re
import shutil
import subprocess
import sys

from click.testing import CliRunner

from bot.cli import cli


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
        }
    ]
    assert isinstance(obj["text"], str) and isinstance(obj["suggestions"], list)
    assert obj["chart"] is True


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


TRICKY_SOURCE = 'R&D <Q4> "Report"'
TRICKY_CSV = (
    "metric,segment,platform,period,value,qualifier,unit,source,stated_pct,note,note_zh,"
    "source_title,source_title_zh,source_publisher,source_published\n"
    'users,pan_auto,,2019Q4,283456789,=,users,rd,,"<b>net</b> & gross","<b>净</b>&毛",'
    '"R&D <Q4> ""Report""","R&D <Q4> ""报告""","A&B <Research>",2020-02-01\n'
)


def test_json_has_missing_sides_and_exact_values(db_path, tmp_path) -> None:
    obj = json.loads(run("ask", "--json", "wechat provinces vs alipay provinces").output)
    assert obj["status"] == "answered"
    assert [f["platform"] for f in obj["facts"]] == ["wechat"]
    assert obj["missing"] == [
        {"metric": "provinces", "segment": "ride_code", "platform": "alipay", "period": None}
    ]
    assert "Alipay: no provinces figure" in obj["text"]
    half = json.loads(run("ask", "--json", "pan-auto users H1 2019").output)
    assert half["missing"] == [
        {"metric": "users", "segment": "pan_auto", "platform": None, "period": "2019Q1"}
    ]
    csv = tmp_path / "tricky.csv"
    csv.write_text(TRICKY_CSV, encoding="utf-8")
    assert run("ingest", str(csv)).exit_code == 0
    exact = json.loads(run("ask", "--json", "pan-auto users Q4 2019").output)
    assert exact["facts"][0]["value"] == 283456789  # never 283460000
    assert "283,456,789" in exact["text"]


def test_ingested_markup_is_text_in_cli_and_escaped_in_html(db_path, tmp_path) -> None:
    from bot.answer import ask
    from bot.db import open_store
    from bot.format import render_text

    csv = tmp_path / "tricky.csv"
    csv.write_text(TRICKY_CSV, encoding="utf-8")
    assert run("ingest", str(csv)).exit_code == 0
    out = run("ask", "pan-auto users Q4 2019").output
    assert TRICKY_SOURCE in out and "A&B <Research>" in out and "<b>net</b> & gross" in out

    store = open_store(db_path)
    try:
        for question, lang_title in (
            ("pan-auto users Q4 2019", 'R&amp;D &lt;Q4&gt; "Report"'),
            ("泛汽车用户 2019年第四季度", 'R&amp;D &lt;Q4&gt; "报告"'),
            ("pan-auto users Q3 vs Q4 2019", 'R&amp;D &lt;Q4&gt; "Report"'),
        ):
            html = render_text(ask(question, store), store.vocabulary, html=True)
            assert lang_title in html, html
            assert "A&amp;B &lt;Research&gt;" in html
            assert "&lt;b&gt;" in html  # the note's markup is shown, not applied
            tags = set(re.findall(r"<[^>]*>", html))
            assert tags <= {"<b>", "</b>", "<i>", "</i>"}, tags
            assert not re.search(r"&(?!(lt|gt|amp|quot);)", html), html
    finally:
        store.close()
