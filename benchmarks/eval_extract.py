"""Extraction quality on hand-written reports with hand-written answer keys.

Run: python benchmarks/eval_extract.py [--verbose] [DIR]
DIR (default tests/reports/heldout) holds NAME.txt/.md/.html/.pdf/.docx reports, each with
NAME.key.csv (metric,segment,platform,period,value,qualifier,unit,stated_pct). A key that the
vocabulary does not know is written `new:NAME` (its English or Chinese name): it is right when
the extractor proposes a new key with that name.

It prints, with PASS/FAIL against the issue's targets:
- found: % of key figures found with the right value and qualifier (≥ 90%);
- precision: % of proposed candidates (accept=yes) that are key figures (≥ 80%);
  the same over every candidate printed, including accept=no, is shown for information;
- keys: % of key figures found with the right metric, segment, platform and period (≥ 75%).
A script, not a test: it exits 1 if a target fails.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.extract import Candidate, extract  # noqa: E402
from bot.vocab import shipped_vocabulary  # noqa: E402

TARGET_FOUND = 90.0
TARGET_PRECISION = 80.0
TARGET_KEYS = 75.0
REPORT_SUFFIXES = (".txt", ".md", ".html", ".pdf", ".docx")


def key_matches(expected: str, mention) -> bool:
    if expected.startswith("new:"):
        name = expected[4:].strip().lower()
        return mention is not None and mention.new and name in (mention.en.lower(), mention.zh)
    return (mention.key if mention else "") == expected


def same_value(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def keys_right(row: dict, c: Candidate) -> bool:
    return (
        key_matches(row["metric"], c.metric)
        and key_matches(row["segment"], c.segment)
        and key_matches(row["platform"], c.platform)
        and c.period == row["period"]
    )


def evaluate(report: Path, verbose: bool) -> dict[str, int]:
    with report.with_name(report.stem + ".key.csv").open(encoding="utf-8") as fh:
        expected = list(csv.DictReader(fh))
    cands = extract(report, shipped_vocabulary()).candidates
    used: set[int] = set()
    found = keys = pct_right = pct_total = 0
    for row in expected:
        value = float(row["value"])
        matches = [
            i
            for i, c in enumerate(cands)
            if same_value(c.value, value) and c.qualifier == row["qualifier"] and i not in used
        ]
        # Of several candidates with this value, the one whose keys are right counts.
        matches.sort(key=lambda i: not keys_right(row, cands[i]))
        if not matches:
            if verbose:
                print(f"  MISSED  {row}")
            continue
        c = cands[matches[0]]
        used.add(matches[0])
        found += 1
        if keys_right(row, c):
            keys += 1
        elif verbose:
            got = c.as_json()
            print(
                f"  KEYS    want {row['metric']}/{row['segment']}/{row['platform']}/"
                f"{row['period']} got {got['metric']}/{got['segment']}/{got['platform']}/"
                f"{got['period']} for {row['value']}"
            )
        if row.get("stated_pct"):
            pct_total += 1
            pct_right += (
                c.stated_pct is not None and abs(c.stated_pct - float(row["stated_pct"])) < 1e-9
            )
    values = [float(r["value"]) for r in expected]
    real = [any(same_value(c.value, v) for v in values) for c in cands]
    if verbose:
        for c, ok in zip(cands, real, strict=True):
            if not ok:
                print(
                    f"  EXTRA   {'yes' if c.accept else 'no '} {c.as_json()['evidence']['text']!r}"
                )
    return {
        "figures": len(expected),
        "found": found,
        "keys": keys,
        "candidates": len(cands),
        "real": sum(real),
        "proposed": sum(c.accept for c in cands),
        "proposed_real": sum(ok and c.accept for c, ok in zip(cands, real, strict=True)),
        "pct_total": pct_total,
        "pct_right": pct_right,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(ROOT / "tests" / "reports" / "heldout"))
    ap.add_argument("--verbose", "-v", action="store_true", help="List misses and extras.")
    args = ap.parse_args()
    reports = sorted(
        p
        for p in Path(args.folder).iterdir()
        if p.suffix.lower() in REPORT_SUFFIXES and p.with_name(p.stem + ".key.csv").exists()
    )
    total: dict[str, int] = {}
    for report in reports:
        if args.verbose:
            print(report.name)
        r = evaluate(report, args.verbose)
        print(
            f"{report.name:<36} figures {r['figures']:>3}  found {r['found']:>3}  "
            f"keys right {r['keys']:>3}  proposed {r['proposed']:>3} "
            f"(real {r['proposed_real']:>3})  all candidates {r['candidates']:>3}"
        )
        for k, v in r.items():
            total[k] = total.get(k, 0) + v
    if not total:
        print("no reports with answer keys found")
        return 1

    def pct(a: int, b: int) -> float:
        return 100.0 * a / b if b else 0.0

    found = pct(total["found"], total["figures"])
    precision = pct(total["proposed_real"], total["proposed"])
    keys = pct(total["keys"], total["figures"])
    ok = True
    for label, value, target in (
        ("figures found, right value and qualifier", found, TARGET_FOUND),
        ("proposed candidates that are real figures", precision, TARGET_PRECISION),
        ("figures with right metric/segment/platform/period", keys, TARGET_KEYS),
    ):
        passed = value >= target
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {label}: {value:.1f}% (target ≥ {target:.0f}%)")
    print(
        f"info  every candidate printed (accept yes or no) that is a real figure: "
        f"{pct(total['real'], total['candidates']):.1f}% of {total['candidates']}"
    )
    print(f"info  stated growth rates attached right: {total['pct_right']}/{total['pct_total']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
