"""Extraction speed: a generated 30-page PDF (text and a table on every page) through
`extract`, against the issue's target of ≤ 10 s.

Run: python benchmarks/bench_extract.py [--pages 30]
A script, not a test: it prints figures and PASS/FAIL, and exits 1 if the target fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.extract import extract
from bot.vocab import shipped_vocabulary

TARGET_S = 10.0
PARAGRAPH = (
    "As of the third quarter of 2019, pan-car mini program users reached {a} million, up "
    "{p}% from the {b} million in the second quarter. The average aftermarket mini program had "
    "{m},000 monthly active users and {d},100 daily active users. WeChat ride code covers over "
    "{c} cities in 28 provinces; Alipay's ride code has more than {u} million users. A survey "
    "of 3,000 car owners was held on September 12, 2019."
)


def make_pdf(path: Path, pages: int) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for i in range(pages):
        pdf.add_page()
        pdf.multi_cell(
            0, 5, f"Q3 2019 Mini Program Report, part {i + 1}", new_x="LMARGIN", new_y="NEXT"
        )
        for j in range(4):
            k = i * 4 + j
            text = PARAGRAPH.format(
                a=200 + k, p=10 + k % 40, b=150 + k, m=300 + k, d=20 + k, c=100 + k, u=90 + k
            )
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        with pdf.table() as table:
            for row in (
                ("Platform", "Ride code users", "Cities"),
                ("WeChat", f"over {100 + i} million", str(120 + i)),
                ("Alipay", f"over {200 + i} million", str(200 + i)),
            ):
                r = table.row()
                for cell in row:
                    r.cell(cell)
    pdf.output(str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=30)
    args = ap.parse_args()
    vocab = shipped_vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        make_pdf(path, args.pages)
        size = path.stat().st_size
        t0 = time.perf_counter()
        result = extract(path, vocab)
        elapsed = time.perf_counter() - t0
    n = len(result.candidates)
    print(f"{args.pages}-page PDF ({size / 1024:.0f} KB): {n} candidates in {elapsed:.2f} s")
    ok = elapsed <= TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}  extract time {elapsed:.2f} s (target ≤ {TARGET_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
