"""Property-based fuzzing: the parser and the whole ask pipeline never raise and never hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer import ask
from bot.db import open_store
from bot.format import render_text
from bot.models import Period
from bot.parse import parse_question
from bot.vocab import shipped_vocabulary

BOUND_S = 2.0  # generous: only catches hangs / catastrophic backtracking on a busy machine


STATUSES = {"answered", "not_found", "ambiguous", "invalid"}
PAN_AUTO_Q3_USERS = 283000000

REPORT_WORDS = [
    "pan-car", "pan-auto", "pan automotive", "aftermarket", "after-market", "aftermaket",
    "mini program", "applet", "gadget", "small program", "users", "user", "MAU", "DAU",
    "daily active", "monthly active", "daily life and monthly activity", "cities", "provinces",
    "countries", "platforms", "car code", "ride code", "passenger code", "overseas taxi",
    "WeChat", "Alipay", "vs", "change", "growth", "QoQ", "latest", "third quarter",
    "second quarter", "of", "in", "September", "2019", "2018", "19", "Q", "Q3", "Q2", "Q5",
    "3Q19", "19Q3", "2019-08", "over", "million", "283", "42.2%",
    "泛汽车", "小程序", "用户", "日活", "月活", "后市场", "乘车码", "境外打车", "城市", "省份",
    "国家", "平台", "微信", "支付宝", "季度", "年", "第三季度", "三季度", "二季度", "第五季度",
    "对比", "环比", "增长", "最新", "亿", "万", "超过", "？", "?", "!", "🚗", "🤔", "%", "-",
    "(", ")", "[", "]", "*", "\\", "'", '"', ";", "--", "\t", "\x00", "\x1b",
]  # fmt: skip

SQL_LIKE = [
    "'; DROP TABLE facts; --",
    "pan-auto users Q3'; DROP TABLE facts; --",
    '" OR 1=1 --',
    "users' OR '1'='1",
    "1; DELETE FROM facts WHERE 1=1; --",
    "Robert'); DROP TABLE sources;--",
    "%' UNION SELECT * FROM facts --",
]

any_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=("Cs",)),
    max_size=300,
)
report_mix = st.lists(
    st.one_of(
        st.sampled_from(REPORT_WORDS),
        st.integers(min_value=-10, max_value=100000).map(str),
        st.text(alphabet="0123456789Q季度年第一二三四五 -/.", max_size=8),
    ),
    max_size=25,
).flatmap(lambda parts: st.sampled_from([" ", "", ",", "\n"]).map(lambda sep: sep.join(parts)))
long_text = st.one_of(
    # Hypothesis cannot draw 10,000 characters directly: repeat a random seed up to 10,000.
    st.text(alphabet=st.characters(codec=None, exclude_categories=("Cs",)), min_size=1).map(
        lambda seed: (seed * (10_000 // len(seed) + 1))[:10_000]
    ),
    st.text(alphabet="aQ3季度年 9-", min_size=1, max_size=50).map(
        lambda seed: (seed * (10_000 // len(seed) + 1))[:10_000]
    ),
    st.lists(st.sampled_from(REPORT_WORDS), min_size=1, max_size=30).map(
        lambda ws: (" ".join(ws) + " ") * (10_000 // (len(" ".join(ws)) + 1) + 1)
    ),
    st.just("Q" * 10_000),
    st.just("9" * 10_000),
    st.just("季度" * 5_000),
    st.just("pan-auto users " + "Q3 vs " * 1_700),
    st.just("(" * 10_000),
    st.just("a" * 9_999 + "!"),
)
questions = st.one_of(any_text, report_mix, long_text, st.sampled_from(SQL_LIKE))

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "marketbot.db"


@pytest.fixture(scope="module")
def store(db_path: Path):
    s = open_store(db_path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def vocab():
    return shipped_vocabulary()


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def _check_parse(text: str, vocab) -> None:
    query, elapsed = _timed(parse_question, text, vocab)
    assert query is not None
    assert elapsed < BOUND_S, f"parse_question took {elapsed:.3f}s on {text[:80]!r}"


def _check_pipeline(text: str, store) -> None:
    answer, elapsed = _timed(ask, text, store)
    assert elapsed < BOUND_S, f"ask took {elapsed:.3f}s on {text[:80]!r}"
    assert answer.status in STATUSES
    rendered, elapsed = _timed(render_text, answer, store.vocabulary, html=True)
    assert isinstance(rendered, str)
    assert elapsed < BOUND_S, f"render_text took {elapsed:.3f}s on {text[:80]!r}"


def _pan_auto_q3(store) -> float | None:
    fact = store.fact("users", "pan_auto", None, Period.parse("2019Q3"))
    return None if fact is None else fact.value


def test_store_has_reference_figure(store) -> None:
    assert _pan_auto_q3(store) == PAN_AUTO_Q3_USERS


@FUZZ
@given(text=questions)
def test_parse_never_raises_or_hangs(text: str, vocab) -> None:
    _check_parse(text, vocab)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=questions)
def test_pipeline_never_raises_or_hangs(text: str, store) -> None:
    _check_pipeline(text, store)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=long_text)
def test_pipeline_long_input(text: str, store) -> None:
    assert len(text) >= 10_000
    _check_parse(text, store.vocabulary)
    _check_pipeline(text, store)


@pytest.mark.parametrize("text", SQL_LIKE)
def test_sql_like_input(text: str, store, vocab) -> None:
    _check_parse(text, vocab)
    _check_pipeline(text, store)
    assert _pan_auto_q3(store) == PAN_AUTO_Q3_USERS


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\x00",
        "\x00pan-auto users Q3\x00",
        "\x1b[31mpan-auto\x1b[0m users Q3",
        "\r\n\t\x0b\x0c",
        "\u200b\u200d\ufeff",
        "\U0001f697" * 500,
        "Q" + "3" * 5000,
        "2019" * 2500,
        "第" * 10_000,
    ],
)
def test_pipeline_edge_inputs(text: str, store, vocab) -> None:
    _check_parse(text, vocab)
    _check_pipeline(text, store)


def test_store_intact_after_fuzzing(store) -> None:
    assert _pan_auto_q3(store) == PAN_AUTO_Q3_USERS
    assert store.count_facts() > 0


# --- the CLI -----------------------------------------------------------------------------


def _command() -> list[str]:
    exe = shutil.which("marketbot")
    if exe is None:
        venv_exe = Path(sys.executable).with_name("marketbot")
        exe = str(venv_exe) if venv_exe.exists() else None
    return [exe] if exe else [sys.executable, "-m", "bot"]


def _run_cli(args: list[str], db: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MARKETBOT_DB": str(db), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [*_command(), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "arg",
    [
        "x" * 10_000,
        ("pan-auto users Q3 " * 600)[:10_000],
        "季度" * 5_000,
        "pan-auto\x01 users\x07 Q3\x1b[2J\x7f",
        "\t\r\x0b\x0c\x1b\x08",
        "'; DROP TABLE facts; --",
    ],
    ids=["10k-x", "10k-repeat", "10k-cjk", "control-mixed", "control-only", "sql"],
)
def test_cli_survives_odd_arguments(arg: str, tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    for extra in ([], ["--json"]):
        proc = _run_cli(["ask", *extra, arg], db)
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
        assert proc.stdout.strip(), "printed nothing"
    s = open_store(db)
    try:
        assert _pan_auto_q3(s) == PAN_AUTO_Q3_USERS
    finally:
        s.close()


def test_cli_stdin_with_nul_and_long_lines(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    lines = ["pan\x00auto users Q3", "y" * 10_000, "\x1b\x07", "'; DROP TABLE facts; --"]
    proc = _run_cli(["ask", "--json", "-"], db, stdin="\n".join(lines).encode() + b"\n")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    out = [ln for ln in proc.stdout.decode("utf-8").splitlines() if ln.strip()]
    assert len(out) == len(lines)
    proc = _run_cli(["ask", "--json", "pan-auto users Q3"], db)
    assert proc.returncode == 0
    s = open_store(db)
    try:
        assert _pan_auto_q3(s) == PAN_AUTO_Q3_USERS
    finally:
        s.close()


def test_cli_bad_usage_exits_2(tmp_path: Path) -> None:
    proc = _run_cli(["ask"], tmp_path / "cli.db")
    assert proc.returncode == 2
