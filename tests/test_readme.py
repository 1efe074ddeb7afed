"""The README's generated parts (command table, command reference) match the code, via cog."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

from cogapp import Cog

from bot.cli import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FIX = "README.md is out of date: run `cog -r README.md`"


def cog_check(path: Path) -> tuple[int, str]:
    """`cog --check --diff PATH`: (exit status, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = Cog().main(["cog", "--check", "--diff", f"--check-fail-msg={FIX}", str(path)])
    return status, out.getvalue()


def test_readme_is_what_cog_generates() -> None:
    status, output = cog_check(README)
    assert status == 0, output


def test_cog_check_catches_a_stale_readme(tmp_path: Path) -> None:
    """The check above is not vacuous: a README whose --help text drifted fails it."""
    stale = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    assert "Questions that got no answer, most frequent first." in text
    stale.write_text(
        text.replace("Questions that got no answer, most frequent first.", "Old help."),
        encoding="utf-8",
    )
    status, output = cog_check(stale)
    assert status != 0 and "Old help." in output and FIX in output
    shutil.copy(README, stale)
    assert cog_check(stale)[0] == 0


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + following.start()] if following else text[start:]


def test_every_command_is_in_the_table_and_the_reference() -> None:
    text = README.read_text(encoding="utf-8")
    reference = _section(text, "## Command reference")
    table = _section(text, "## Asking")
    assert "Usage: marketbot [OPTIONS] COMMAND [ARGS]..." in reference
    for name, command in cli.commands.items():
        assert f"\n### marketbot {name}\n" in reference, name
        assert f"Usage: marketbot {name} [OPTIONS]" in reference, name
        assert "Example:" in reference.split(f"### marketbot {name}\n")[1], name
        summary = command.get_short_help_str(limit=200)
        assert re.search(rf"^\| \[`marketbot {name}\b.*\| {re.escape(summary)} \|$", table, re.M)


def test_quick_start_makes_a_virtual_environment_first() -> None:
    quick = _section(README.read_text(encoding="utf-8"), "## Quick start")
    venv = quick.index("python3 -m venv .venv && . .venv/bin/activate")
    assert venv < quick.index('python -m pip install . && marketbot ask "aftermarket DAU Q3"')
    assert venv < quick.index('python -m pip install -e ".[test]" && python -m pytest')
