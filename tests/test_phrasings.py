"""Table-driven phrasing tests: every question in phrasings.csv through `marketbot ask --json -`.

Expected figures come from the source report (Future Car Daily, 2019-11, on Aladdin Research
Institute's Q3 2019 pan-automotive mini program report), not from the implementation.
All questions run in ONE subprocess (module-scoped fixture); each question is its own test.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TABLE = HERE / "phrasings.csv"
STATUSES = {"answered", "not_found", "ambiguous", "invalid"}
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Latin that a Chinese question may still carry (abbreviations, quarter labels).
_LATIN_OK_RE = re.compile(r"\b(?:dau|mau|q\d)\b", re.IGNORECASE)
LOWER_BOUND_MARKERS = ("over", "Over", "超过", "+")
# Chinese renderings of figures the contract spells out (e.g. 2.83亿, 2.72万).
ZH_FIGURES = {283000000: "2.83亿", 27200: "2.72万"}


def _load_table() -> OrderedDict[str, dict]:
    cases: OrderedDict[str, dict] = OrderedDict()
    with TABLE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            q = row["question"]
            case = cases.setdefault(q, {"status": row["status"], "facts": set(), "pct": None})
            assert case["status"] == row["status"], f"inconsistent status rows for {q!r}"
            if row["metric"]:
                value = float(row["value"])
                case["facts"].add(
                    (
                        row["metric"],
                        row["segment"],
                        row["platform"] or None,
                        row["period"],
                        value,
                        row["qualifier"],
                    )
                )
            if row["changes_pct"]:
                case["pct"] = float(row["changes_pct"])
    return cases


CASES = _load_table()
QUESTIONS = list(CASES)


def test_table_is_big_and_well_formed() -> None:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 70
    for row in rows:
        assert row["status"] in STATUSES, row
        assert "\n" not in row["question"] and row["question"].strip(), row
        if row["status"] == "answered":
            assert row["metric"] and row["period"] and row["value"] and row["qualifier"], row
        else:
            assert not row["metric"] and not row["value"], row


def _command() -> list[str]:
    exe = shutil.which("marketbot")
    if exe is None:
        venv_exe = Path(sys.executable).with_name("marketbot")
        exe = str(venv_exe) if venv_exe.exists() else None
    return [exe] if exe else [sys.executable, "-m", "bot"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    db = tmp_path_factory.mktemp("phrasings") / "marketbot.db"
    env = {**os.environ, "MARKETBOT_DB": str(db), "PYTHONIOENCODING": "utf-8"}
    stdin = "".join(q + "\n" for q in QUESTIONS)
    proc = subprocess.run(
        [*_command(), "ask", "--json", "-"],
        input=stdin.encode("utf-8"),
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    lines = [ln for ln in proc.stdout.decode("utf-8").splitlines() if ln.strip()]
    assert len(lines) == len(QUESTIONS), (
        f"expected {len(QUESTIONS)} JSON lines, got {len(lines)}; stderr: "
        + proc.stderr.decode("utf-8", "replace")[-2000:]
    )
    return {q: json.loads(line) for q, line in zip(QUESTIONS, lines, strict=True)}


def is_chinese(question: str) -> bool:
    """Chinese question: has CJK and no Latin words besides DAU/MAU/Qn (mixed ones are not)."""
    rest = _LATIN_OK_RE.sub(" ", question)
    return bool(CJK_RE.search(question)) and not re.search(r"[A-Za-z]", rest)


def _fact_key(f: dict) -> tuple:
    return (
        f.get("metric"),
        f.get("segment"),
        f.get("platform"),
        f.get("period"),
        float(f["value"]) if f.get("value") is not None else None,
        f.get("qualifier"),
    )


def _fmt_facts(facts: set[tuple]) -> list[str]:
    out = []
    for metric, segment, platform, period, value, qual in sorted(facts, key=repr):
        v = int(value) if value is not None and float(value).is_integer() else value
        out.append(f"{metric}/{segment}/{platform}/{period} {qual}{v}")
    return out


@pytest.mark.parametrize("question", QUESTIONS)
def test_phrasing(question: str, outputs: dict[str, dict]) -> None:
    expected = CASES[question]
    got = outputs[question]

    assert got.get("question") == question, "output out of step with input"
    got_facts = {_fact_key(f) for f in got.get("facts") or []}
    summary = (
        f"\n  expected: {expected['status']} {_fmt_facts(expected['facts'])}"
        f"\n  actual:   {got.get('status')} {_fmt_facts(got_facts)}"
        f"\n  text:     {got.get('text')!r}"
    )

    assert got.get("status") == expected["status"], summary
    assert got_facts == expected["facts"], summary

    if expected["status"] == "not_found":
        assert not got.get("facts"), summary

    if expected["status"] == "ambiguous":
        assert got.get("suggestions"), "ambiguous answers must offer suggestions" + summary

    for f in got.get("facts") or []:
        assert isinstance(f.get("value"), int | float), f
        assert f.get("unit") is not None, f
        src = f.get("source") or {}
        assert src.get("title") and src.get("publisher") and src.get("published"), f

    if expected["pct"] is not None:
        pcts = [c.get("pct") for c in got.get("changes") or []]
        assert any(p is not None and round(float(p), 1) == expected["pct"] for p in pcts), (
            f"expected a change of {expected['pct']}%, got changes {got.get('changes')}" + summary
        )

    text = got.get("text") or ""
    assert text.strip(), "empty text" + summary
    if any(f[5] == ">" for f in expected["facts"]):
        assert any(m in text for m in LOWER_BOUND_MARKERS), (
            "lower bound rendered without over/超过/+" + summary
        )
    if is_chinese(question):
        assert CJK_RE.search(text), "Chinese question got non-Chinese text" + summary
        for f in expected["facts"]:
            zh = ZH_FIGURES.get(int(f[4]))
            if zh and expected["status"] == "answered":
                assert zh in text, f"expected {zh} in Chinese text" + summary
