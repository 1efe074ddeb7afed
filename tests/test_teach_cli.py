"""`marketbot teach`, `terms` and `history`, and `ingest` of a file that declares a new key."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_teach_then_ask_then_remove(db_path: Path) -> None:
    assert "2.83亿" not in run("ask", "车圈 用户 三季度").output
    taught = run("teach", "车圈", "pan_auto")
    assert taught.exit_code == 0
    assert "Learned: “车圈” now means segment pan_auto (Pan-automotive" in taught.output
    assert "2.83亿" in run("ask", "车圈 用户 三季度").output
    again = run("teach", "车圈", "segment:pan_auto")
    assert again.exit_code == 0 and "already means segment pan_auto" in again.output
    removed = run("teach", "车圈", "--remove")
    assert removed.exit_code == 0 and "Forgotten" in removed.output
    assert "2.83亿" not in run("ask", "车圈 用户 三季度").output


def test_teach_refuses_what_means_something_else(db_path: Path) -> None:
    refused = run("teach", "后市场", "pan_auto")
    assert refused.exit_code == 1
    assert "“后市场” already means segment aftermarket" in refused.output
    unknown = run("teach", "car club", "pan_autp")
    assert unknown.exit_code == 1 and "unknown key; did you mean pan_auto?" in unknown.output
    shipped = run("teach", "后市场", "--remove")
    assert shipped.exit_code == 1 and "only taught words can be forgotten" in shipped.output
    period = run("teach", "三季度", "pan_auto")
    assert period.exit_code == 1 and "reads as a period" in period.output
    usage = run("teach", "车圈")
    assert usage.exit_code == 2 and "give the KEY" in usage.output
    assert "Traceback" not in refused.output + unknown.output + shipped.output


def test_a_key_of_several_kinds_needs_its_kind(db_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "alipay-segment.csv"
    report.write_text(
        "metric,segment,period,value,unit,source,source_title,source_publisher,source_published\n"
        "users,alipay,2019Q4,9000000,users,ap,Alipay mini programs Q4,Sample Research,2020-02-10\n",
        encoding="utf-8",
    )
    # a segment that shares the platform's key (an undeclared new key needs --new-keys)
    assert run("ingest", "--new-keys", str(report)).exit_code == 0
    ambiguous = run("teach", "支付宝生态", "alipay")
    assert ambiguous.exit_code == 1
    assert "write platform:alipay or segment:alipay" in ambiguous.output
    assert run("teach", "支付宝生态", "segment:alipay").exit_code == 0


def test_terms_lists_origins(db_path: Path) -> None:
    run("teach", "车圈", "pan_auto")
    data = json.loads(run("terms", "--json").output)
    [taught] = [s for s in data["synonyms"] if s["origin"] == "taught"]
    assert taught["phrase"] == "车圈" and taught["key"] == "pan_auto"
    assert taught["who"].startswith("cli")
    assert {"kind": "segment", "key": "aftermarket", "origin": "shipped"}.items() <= next(
        t for t in data["terms"] if t["key"] == "aftermarket"
    ).items()
    text = run("terms").output
    assert "车圈  [taught (cli" in text


def test_declared_new_segment_answers_in_chinese_and_history(db_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "used-car.csv"
    report.write_text(
        "metric,segment,period,value,qualifier,unit,source,segment_en,segment_zh,"
        "source_title,source_publisher,source_published\n"
        "users,used_car,2019Q4,52000000,>,users,uc,used-car mini programs,二手车,"
        "Used Car Q4,Sample Research,2020-02-10\n",
        encoding="utf-8",
    )
    imported = run("ingest", str(report))
    assert imported.exit_code == 0, imported.output
    assert "new segment: used_car (used-car mini programs / 二手车)" in imported.output
    answer = run("ask", "二手车 用户 2019年第四季度").output
    assert "二手车" in answer and "超过5200万" in answer
    run("teach", "车圈", "pan_auto")
    lines = run("history").output.splitlines()
    assert "teach" in lines[0] and "车圈" in lines[0]  # newest first
    assert "import" in lines[1] and "used-car.csv: 1 row — 1 added" in lines[1]
    terms = json.loads(run("terms", "--json").output)
    [declared] = [t for t in terms["terms"] if t["key"] == "used_car"]
    assert declared["origin"] == "file" and "used-car.csv" in declared["who"]


def test_declared_name_that_means_another_key_is_refused(db_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "clash.csv"
    report.write_text(
        "metric,segment,period,value,unit,source,segment_en,segment_zh,"
        "source_title,source_publisher,source_published\n"
        "users,used_car,2019Q4,52000000,users,uc,Used cars,后市场,Used Car Q4,Sample Research,"
        "2020-02-10\n",
        encoding="utf-8",
    )
    refused = run("ingest", str(report))
    assert refused.exit_code == 1
    assert "row 2: segment name '后市场' already means segment aftermarket" in refused.output
    assert "used_car" not in run("metrics").output
