"""Where the CJK font for chart labels comes from: a system Noto Sans CJK, else the wheel's.

A system copy is preferred because the operating system's packages (Debian's fonts-noto-cjk,
installed in the Docker image) get security and glyph fixes; the `noto-cjk-sans-otc` wheel
(pinned in pyproject.toml) is the fallback that makes `pip install` alone enough. Every
candidate is checked by its name table, so a fontconfig substitute (fc-match answers with
DejaVu Sans when no CJK font is installed) or a stray file is never used as the CJK font.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

FAMILY_PREFIX = "Noto Sans CJK"
FONTCONFIG_PATTERN = "Noto Sans CJK SC"  # the Simplified-Chinese face of the collection
WHEEL_PACKAGE = "noto_cjk_sans_otc"
WHEEL_FILE = "NotoSansCJK-Regular.ttc"

# Where distributions install the Noto Sans CJK collection (fontconfig may be absent, as in
# python:3.11-slim with fonts-noto-cjk): Debian/Ubuntu, Arch, Fedora (new and old), Alpine.
SYSTEM_CJK_FONTS: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto/NotoSansCJK-Regular.ttc"),
)


def font_family(path: Path) -> str | None:
    """The family name of the (first) face of a .ttf/.otf/.ttc file; None if it is no font.

    Read with matplotlib's FreeType binding: the chart process has it loaded already, and it
    reads only the file's headers (~30 ms less than a fontTools import for one name).
    """
    from matplotlib.ft2font import FT2Font

    try:
        return FT2Font(str(path)).family_name
    except (OSError, RuntimeError, ValueError):  # missing, unreadable or not a font
        return None


def is_noto_sans_cjk(path: Path) -> bool:
    """Whether ``path`` is a Noto Sans CJK font (by its name table, not its file name)."""
    family = font_family(path) if path.is_file() else None
    return family is not None and family.startswith(FAMILY_PREFIX)


def fontconfig_font() -> Path | None:
    """The file fontconfig's ``fc-match`` gives for Noto Sans CJK SC, if fontconfig is there.

    fc-match always answers with some font, its best substitute; callers check the file.
    """
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        done = subprocess.run(
            [fc_match, "-f", "%{file}", FONTCONFIG_PATTERN],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = done.stdout.strip()
    return Path(found) if done.returncode == 0 and found else None


def wheel_font() -> Path | None:
    """The collection shipped by the `noto-cjk-sans-otc` wheel, if installed."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / WHEEL_FILE
    return path if path.is_file() else None


def cjk_font_file(
    system_fonts: Iterable[Path] = SYSTEM_CJK_FONTS,
    *,
    use_fontconfig: bool = True,
    bundled: Path | None = None,
) -> Path | None:
    """The Noto Sans CJK file charts should register, or None when there is none.

    In order: what fontconfig finds (``use_fontconfig``), the first of ``system_fonts`` that
    exists, then ``bundled`` (default: the wheel's file). Each must really be Noto Sans CJK.
    """
    candidates: list[Path | None] = [fontconfig_font() if use_fontconfig else None]
    candidates += list(system_fonts)
    candidates.append(bundled if bundled is not None else wheel_font())
    for path in candidates:
        if path is not None and is_noto_sans_cjk(path):
            return path
    return None
