"""The deploy kit and the dependencies: what is imported is declared, the image build is locked
and hardened, and the CJK font is the real Noto Sans CJK under the SIL OFL.

There is no Docker engine here: the compose file is parsed with PyYAML and the Dockerfile read
as text, and the checks are on what they say.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import matplotlib
import pytest
import yaml
from fontTools.ttLib import TTCollection, TTFont
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.fonts import SYSTEM_CJK_FONTS, cjk_font_file, fontconfig_font, wheel_font
from tests.test_ops import dockerfile_instructions

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
TEST_EXTRA = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
NOTO_SANS_CJK_2_004_REGULAR_TTC = "b76b0433203017ca80401b2ee0dd69350349871c4b19d504c34dbdd80541690a"


# -- imports are declared --------------------------------------------------------------------


def _third_party_imports(folder: Path) -> dict[str, set[str]]:
    """{top-level module: files importing it} for absolute imports outside the stdlib."""
    local = {p.stem for p in folder.glob("*.py")} | {"bot", "tests"}
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def _undeclared(folder: Path, declared: list[Requirement]) -> dict[str, str]:
    names = {canonicalize_name(r.name) for r in declared}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in sorted(_third_party_imports(folder).items()):
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        assert providers, f"{module} (imported in {sorted(files)}) is not installed"
        if not providers & names:
            missing[module] = f"{'/'.join(sorted(providers))} (imported in {sorted(files)})"
    return missing


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    imported = _third_party_imports(REPO / "bot")
    # The check sees the imports that arrive only through other packages' dependencies.
    assert {"click", "numpy", "PIL", "aiolimiter", "telegram"} <= set(imported)
    assert _undeclared(REPO / "bot", RUNTIME) == {}


@pytest.mark.parametrize("folder", ["benchmarks", "tests"])
def test_every_import_of_benchmarks_and_tests_is_declared(folder: str) -> None:
    assert _undeclared(REPO / folder, RUNTIME + TEST_EXTRA) == {}


def _pins(requirements: list[Requirement]) -> dict[str, str]:
    return {
        canonicalize_name(r.name): str(r.specifier)
        for r in requirements
        if len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
    }


def test_the_font_wheel_and_ruff_are_pinned_exactly() -> None:
    assert _pins(RUNTIME).get("noto-cjk-sans-otc") == "==0.0.1"
    ruff = _pins(TEST_EXTRA).get("ruff")
    assert ruff == f"=={importlib.metadata.version('ruff')}"
    # Every other test tool has an upper bound: a new major version cannot break CI unseen.
    for req in TEST_EXTRA:
        ops = {spec.operator for spec in req.specifier}
        assert ops & {"<", "==", "~="}, f"{req} has no upper bound"


# -- the image build is locked ---------------------------------------------------------------


def _lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, hashes)} of a uv/pip-compile lock, for this interpreter's markers."""
    text = (DEPLOY / name).read_text(encoding="utf-8")
    entries: dict[str, tuple[str, list[str]]] = {}
    blocks = re.split(r"\n(?=\S)", text)
    for block in blocks:
        block = block.strip()
        if not block or block.startswith("#"):
            continue
        head = block.splitlines()[0].rstrip(" \\")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)(?:\s*;\s*(.+))?", head)
        assert match, f"{name}: not a pinned requirement: {head!r}"
        pkg, version, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})\b", block)
        entries[canonicalize_name(pkg)] = (version, hashes)
    return entries


def _closure(requirements: list[Requirement]) -> dict[str, list[Requirement]]:
    """Every distribution the requirements pull in (with their extras), by installed metadata."""
    seen: dict[str, list[Requirement]] = {}
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            continue
        name = canonicalize_name(req.name)
        first = name not in seen
        seen.setdefault(name, []).append(req)
        if first or req.extras:
            for sub in importlib.metadata.requires(req.name) or []:
                todo.append((Requirement(sub), frozenset(req.extras)))
    return seen


def test_the_lock_covers_every_runtime_dependency() -> None:
    lock = _lock("requirements.lock")
    needed = _closure(RUNTIME)
    # The extras of python-telegram-bot are resolved too (job-queue, rate-limiter, webhooks).
    assert {"apscheduler", "aiolimiter", "tornado"} <= set(needed)
    missing = sorted(set(needed) - set(lock))
    assert missing == [], f"regenerate with `sh deploy/lock.sh`: {missing}"
    for name, reqs in needed.items():
        version, hashes = lock[name]
        for req in reqs:
            assert req.specifier.contains(version, prereleases=True), (name, version, str(req))
        assert hashes, f"{name} has no hash in the lock"


def test_the_build_backend_is_locked_too() -> None:
    lock = _lock("build.lock")
    for raw in PYPROJECT["build-system"]["requires"]:
        req = Requirement(raw)
        version, hashes = lock[canonicalize_name(req.name)]
        assert req.specifier.contains(version) and hashes


def test_the_image_installs_only_locked_packages() -> None:
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    installs = [
        part.strip()
        for run in runs
        for part in run.split("&&")
        if re.search(r"pip (install|wheel)", part)
    ]
    assert any("--require-hashes -r deploy/build.lock" in i for i in installs)
    assert any("--require-hashes -r deploy/requirements.lock" in i for i in installs)
    # marketbot itself: with --no-deps (all its dependencies came from the lock), built with
    # the locked backend rather than one fetched for build isolation.
    assert any("install --no-deps" in i and "marketbot" in i for i in installs)
    for i in installs:
        locked = "--require-hashes" in i
        builds_marketbot = "pip wheel --no-deps --no-build-isolation" in i and i.endswith(" .")
        installs_marketbot = re.search(r"pip install --no-deps /tmp/wheels/marketbot-\S+\.whl$", i)
        assert locked or builds_marketbot or installs_marketbot, f"unlocked install: {i}"
    assert any("pip check" in run for run in runs)
    copied = " ".join(rest for word, rest in dockerfile_instructions() if word == "COPY")
    assert "deploy/requirements.lock" in copied and "deploy/build.lock" in copied


# -- the image and the compose file are hardened -----------------------------------------


def test_the_base_image_is_pinned_by_digest() -> None:
    froms = [rest.split()[0] for word, rest in dockerfile_instructions() if word == "FROM"]
    assert len(froms) == 2
    for ref in froms:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", ref), ref
    assert len(set(froms)) == 1  # build and runtime stages on the same image


def test_the_image_has_the_system_cjk_font_and_a_private_data_dir() -> None:
    ins = dockerfile_instructions()
    runs = [rest for word, rest in ins if word == "RUN"]
    assert any(
        re.search(r"apt-get install -y --no-install-recommends( \S+)* fonts-noto-cjk\b", r)
        for r in runs
    )
    assert any("rm -rf /var/lib/apt/lists" in r for r in runs)
    assert any(re.search(r"install -d -m 0?700 -o marketbot -g marketbot /data\b", r) for r in runs)
    users = [rest for word, rest in ins if word == "USER"]
    assert users == ["marketbot"]
    # /data is made before the VOLUME line, so a new named volume copies its mode and owner.
    make = next(i for i, (w, r) in enumerate(ins) if w == "RUN" and "/data" in r)
    assert make < ins.index(("VOLUME", "/data"))


def test_compose_runs_read_only_without_capabilities() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    bot = compose["services"]["bot"]
    assert bot["read_only"] is True
    tmpfs = [bot["tmpfs"]] if isinstance(bot["tmpfs"], str) else bot["tmpfs"]
    assert [t.split(":")[0] for t in tmpfs] == ["/tmp"]  # matplotlib's cache (MPLCONFIGDIR)
    assert bot["cap_drop"] == ["ALL"] and "cap_add" not in bot
    assert "no-new-privileges:true" in bot["security_opt"]
    assert "privileged" not in bot and "user" not in bot  # the image's unprivileged user
    assert bot["volumes"] == ["marketbot-data:/data"]
    env = dict(
        line.split("=", 1)
        for word, rest in dockerfile_instructions()
        if word == "ENV"
        for line in rest.split()
        if "=" in line
    )
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    assert env["MARKETBOT_DB"].startswith("/data/")


def test_the_systemd_unit_keeps_the_state_private() -> None:
    unit = (DEPLOY / "marketbot.service").read_text(encoding="utf-8")
    for line in ("StateDirectory=marketbot", "StateDirectoryMode=0700", "UMask=0077"):
        assert re.search(rf"^{line}$", unit, re.M), line


# -- the CJK font ------------------------------------------------------------------------


def _font_names(path: Path) -> list[dict[int, str]]:
    """Name ID → string of every face in a font file, read with fontTools."""
    with open(path, "rb") as f:
        collection = f.read(4) == b"ttcf"
    fonts = TTCollection(path, lazy=True).fonts if collection else [TTFont(path, lazy=True)]
    return [
        {nid: str(font["name"].getDebugName(nid)) for nid in (0, 1, 2, 5, 13, 14)} for font in fonts
    ]


def _assert_noto_sans_cjk_under_ofl(path: Path) -> None:
    faces = _font_names(path)
    families = {face[1] for face in faces}
    assert {"Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP"} <= families, families
    for face in faces:
        assert face[13].startswith(
            "This Font Software is licensed under the SIL Open Font License, Version 1.1."
        ), face[13]
        assert face[14] in ("http://scripts.sil.org/OFL", "https://scripts.sil.org/OFL")
        assert "Adobe" in face[0] and face[5].startswith("Version ")


def test_the_chosen_font_is_noto_sans_cjk_under_the_ofl() -> None:
    chosen = cjk_font_file()
    assert chosen is not None
    _assert_noto_sans_cjk_under_ofl(chosen)


def test_the_wheel_ships_the_font_and_the_ofl_text() -> None:
    dist = importlib.metadata.distribution("noto-cjk-sans-otc")
    assert dist.version == "0.0.1"
    assert dist.metadata["License-Expression"] == "OFL-1.1"
    files = {f.as_posix(): f for f in dist.files or []}
    licence = next(f for name, f in files.items() if name.endswith("licenses/LICENSE"))
    text = licence.read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1 - 26 February 2007" in text
    assert "PERMISSION & CONDITIONS" in text and "TERMINATION" in text
    font = wheel_font()
    assert font is not None and "noto_cjk_sans_otc/NotoSansCJK-Regular.ttc" in files
    _assert_noto_sans_cjk_under_ofl(font)
    # Byte for byte the file Debian ships in fonts-noto-cjk 1:20220127+repack1-1 (bookworm),
    # /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc: Noto Sans CJK 2.004.
    assert hashlib.sha256(font.read_bytes()).hexdigest() == NOTO_SANS_CJK_2_004_REGULAR_TTC


@pytest.fixture
def wheel() -> Path:
    font = wheel_font()
    assert font is not None, "the noto-cjk-sans-otc wheel is a dependency"
    return font


def test_a_system_noto_sans_cjk_is_preferred_to_the_wheel(tmp_path: Path, wheel: Path) -> None:
    system = tmp_path / "usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    system.parent.mkdir(parents=True)
    system.symlink_to(wheel)  # the same font, found at a system location
    missing = tmp_path / "elsewhere/NotoSansCJK-Regular.ttc"
    chosen = cjk_font_file([missing, system], use_fontconfig=False)
    assert chosen == system


def test_the_wheel_serves_when_the_system_has_none(tmp_path: Path, wheel: Path) -> None:
    paths = [tmp_path / p.relative_to("/") for p in SYSTEM_CJK_FONTS]
    assert cjk_font_file(paths, use_fontconfig=False) == wheel
    nothing = tmp_path / "no-wheel.ttc"
    assert cjk_font_file(paths, use_fontconfig=False, bundled=nothing) is None


def test_a_file_that_is_not_noto_sans_cjk_is_not_used(tmp_path: Path, wheel: Path) -> None:
    impostor = tmp_path / "NotoSansCJK-Regular.ttc"  # the right name, another font inside
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf", impostor)
    garbage = tmp_path / "broken/NotoSansCJK-Regular.ttc"
    garbage.parent.mkdir()
    garbage.write_bytes(b"ttcf" + os.urandom(2000))
    assert cjk_font_file([impostor, garbage], use_fontconfig=False) == wheel


def _fontconfig(tmp_path: Path, font_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point fc-match at a configuration that knows only ``font_dir`` (no system fonts)."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        f"<fontconfig><dir>{font_dir}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>"
        "</fontconfig>\n"
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))


needs_fontconfig = pytest.mark.skipif(shutil.which("fc-match") is None, reason="no fontconfig")


@needs_fontconfig
def test_fontconfig_finds_a_system_noto_sans_cjk(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copy(wheel, fonts / "NotoSansCJK-Regular.ttc")
    _fontconfig(tmp_path, fonts, monkeypatch)
    chosen = cjk_font_file([], use_fontconfig=True)
    assert chosen == fonts / "NotoSansCJK-Regular.ttc"


@needs_fontconfig
def test_fontconfig_substitutes_are_not_taken_for_cjk(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf", fonts)
    _fontconfig(tmp_path, fonts, monkeypatch)
    # fc-match answers with its best substitute when no Noto Sans CJK is installed...
    assert fontconfig_font() == fonts / "DejaVuSans.ttf"
    # ...which is not a CJK font: the wheel's file is used.
    assert cjk_font_file([], use_fontconfig=True) == wheel


def test_lock_script_names_the_files_the_dockerfile_reads() -> None:
    script = (DEPLOY / "lock.sh").read_text(encoding="utf-8")
    assert "-o deploy/requirements.lock" in script and "-o deploy/build.lock" in script
    assert "--generate-hashes" in script and "--python-version 3.11" in script
    # A shell syntax check of the script (uv itself needs the network, not run here).
    result = subprocess.run(["sh", "-n", str(DEPLOY / "lock.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
