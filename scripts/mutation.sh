#!/bin/sh
# Mutation testing of the answer path (parse, periods, answer, format, numbers, and how a
# qualifier, note and source are written in push summaries and on charts: summary, and
# chart_spec outside its `no mutate` layout regions) with mutmut, against the fast in-process
# tests configured in pyproject.toml [tool.mutmut]. Not part of pytest/CI: a full run takes
# about an hour on two cores. Prints the score (killed / all mutants).
#
# Example:
#     scripts/mutation.sh            # run (resumes: only changed code is re-tested)
#     scripts/mutation.sh --fresh    # start over
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fresh" ]; then
    rm -rf mutants
fi
# Two cores are shared with others: two test processes at a time.
python -m mutmut run --max-children "${MUTMUT_CHILDREN:-2}" >/dev/null 2>&1 || true
# Seen with mutmut 3.8: in the run that also collects the test stats, some mutants that crash
# every test (e.g. `parts = None`) were reported "survived"; run by name they are killed. And a
# resumed run keeps earlier verdicts of code that did not change, so a test added since then has
# not been tried on them. So every mutant that survived or had no test is run once more, by
# name, before the score is counted.
survivors=$(python - <<'PY'
import json, pathlib
from mutmut.stats import status_by_exit_code
for meta in pathlib.Path("mutants").rglob("*.py.meta"):
    for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
        if code is not None and status_by_exit_code[code] in ("survived", "no tests"):
            print(name)
PY
)
if [ -n "$survivors" ]; then
    # shellcheck disable=SC2086  # one argument per mutant name
    python -m mutmut run --max-children "${MUTMUT_CHILDREN:-2}" $survivors >/dev/null 2>&1 || true
fi
python - <<'PY'
import collections
import json
import pathlib

from mutmut.stats import status_by_exit_code  # mutmut's own reading of each exit code

counts = collections.Counter()
by_file = collections.defaultdict(collections.Counter)
survivors = []
for meta in sorted(pathlib.Path("mutants").rglob("*.py.meta")):
    data = json.loads(meta.read_text())
    for name, code in data.get("exit_code_by_key", {}).items():
        status = status_by_exit_code[code]
        counts[status] += 1
        by_file[meta.name.removesuffix(".meta")][status] += 1
        if status == "survived":
            survivors.append(name)
total = sum(counts.values())
killed = counts["killed"] + counts["timeout"]
for name, c in sorted(by_file.items()):
    print(f"{name:<14} {c['killed'] + c['timeout']:>5} killed of {sum(c.values()):>5}  {dict(c)}")
print(f"survivors: {len(survivors)} (see them with: python -m mutmut show NAME)")
score = 100 * killed / total if total else 0.0
print(f"mutation score: {killed}/{total} killed = {score:.1f}%")
print(f"target >= 85%: {'PASS' if score >= 85 else 'FAIL'}")

# Every survivor must be explained in tests/mutation-equivalents.md (or killed by a new test).
import re

listed, families = set(), []
for line in pathlib.Path("tests/mutation-equivalents.md").read_text().splitlines():
    cell = line.split("|")[1] if line.startswith("| `bot") else ""
    for m in re.finditer(r"`(bot\.[\w.ǁ]+?__mutmut_)(\d+(?:/\d+)*|\*)`", cell):
        if m.group(2) == "*":
            families.append(m.group(1))
        else:
            listed.update(m.group(1) + n for n in m.group(2).split("/"))
unexplained = [n for n in survivors if n not in listed and not n.startswith(tuple(families))]
print(f"survivors not in tests/mutation-equivalents.md: {len(unexplained)}")
for name in unexplained:
    print(f"  {name}")
stale = sorted(listed - set(survivors))  # killed now, or renumbered: the row needs a look
print(f"mutants tests/mutation-equivalents.md names that do not survive: {len(stale)}")
for name in stale:
    print(f"  {name}")
PY
