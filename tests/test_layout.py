"""The folder listing is the architecture: the pipeline never reaches up into the Telegram layer
or the command line, and only `bot/telegram/` talks to Telegram."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
ENTRY_POINTS = {"cli.py", "ops.py", "__main__.py"}  # they start the layers, so may import any


def imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against the `bot` package."""
    package = ["bot", *path.relative_to(BOT).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def outside_telegram() -> list[Path]:
    return [p for p in sorted(BOT.rglob("*.py")) if "telegram" not in p.relative_to(BOT).parts]


def pipeline_modules() -> list[Path]:
    return [p for p in outside_telegram() if p.name not in ENTRY_POINTS]


def test_only_the_telegram_package_imports_telegram() -> None:
    offenders = {
        str(p.relative_to(BOT)): sorted(
            m for m in imports(p) if m == "telegram" or m.startswith("telegram.")
        )
        for p in outside_telegram()
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_pipeline_never_imports_the_layers_above_it() -> None:
    above = ("bot.telegram", "bot.cli", "bot.ops")
    offenders = {
        str(p.relative_to(BOT)): sorted(m for m in imports(p) if m.startswith(above))
        for p in pipeline_modules()
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_telegram_layer_is_one_package() -> None:
    modules = {p.name for p in (BOT / "telegram").glob("*.py")}
    assert {"app.py", "handlers.py", "subscribe.py", "delivery.py", "pacing.py"} <= modules
    assert not (BOT / "telegram_bot.py").exists() and not (BOT / "push.py").exists()


def test_the_running_bot_does_not_load_pandas_until_a_file_arrives() -> None:
    """pandas (ingest) and the report readers cost ~50 MB of a bot's memory: curators' uploads
    load them when they come, not every bot at start-up."""
    import subprocess
    import sys

    code = (
        "import sys, bot.telegram.app; "
        "print(sorted(m for m in ('pandas', 'pdfplumber', 'trafilatura', 'docx') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
