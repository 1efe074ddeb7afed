"""Smoke test of the benchmark data: generated figures ingest with `marketbot ingest`, once.

No timing here: benchmarks/bench_answer.py measures speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.db import open_store

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "benchmarks" / "generate_synthetic.py"
ROWS = 2_000


def _marketbot() -> list[str]:
    """The installed command beside this Python, else on PATH, else `python -m bot`."""
    beside = Path(sys.executable).parent / "marketbot"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("marketbot")
    return [found] if found else [sys.executable, "-m", "bot"]


def _count(db: Path) -> int:
    store = open_store(db)
    try:
        return store.count_facts()
    finally:
        store.close()


def _ingest(db: Path, csv: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MARKETBOT_DB=str(db))
    return subprocess.run(
        [*_marketbot(), "ingest", str(csv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generated_figures_ingest_once(tmp_path: Path) -> None:
    csv = tmp_path / "synthetic.csv"
    db = tmp_path / "bench.db"
    made = subprocess.run(
        [sys.executable, str(GENERATOR), "--rows", str(ROWS), "--out", str(csv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with csv.open(encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == ROWS + 1  # the header, then one line per figure

    before = _count(db)  # the shipped figures
    first = _ingest(db, csv)
    assert first.returncode == 0, first.stderr
    after = _count(db)
    assert after - before == ROWS

    second = _ingest(db, csv)
    assert second.returncode == 0, second.stderr
    assert _count(db) == after
