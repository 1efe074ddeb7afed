"""Small text helpers for command-line output: counted nouns and compact period lists."""

from __future__ import annotations

from collections.abc import Iterable

from .models import Period


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``; ``plural_form`` for irregular nouns."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count:,} {word}"


def period_runs(labels: Iterable[str]) -> str:
    """Quarters as runs: ``2019Q2–2019Q4`` for consecutive ones, commas only between gaps.

    Labels that are not quarters (none are stored today) are listed as they are, after the runs.
    """
    quarters: list[Period] = []
    others: list[str] = []
    for label in labels:
        try:
            quarters.append(Period.parse(label))
        except ValueError:
            if label:
                others.append(label)
    runs: list[list[Period]] = []
    for period in sorted(set(quarters)):
        if runs and runs[-1][-1] == period.previous():
            runs[-1].append(period)
        else:
            runs.append([period])
    parts = [r[0].label if len(r) == 1 else f"{r[0].label}–{r[-1].label}" for r in runs]
    return ", ".join(parts + others)
