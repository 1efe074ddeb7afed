"""Deploying and operating: deploy/ files, `marketbot doctor`, `marketbot backup`, logging."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.db import open_store
from bot.ops import RedactToken, configure_logging

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
TOKEN = "123456789:AAHsecretPartOfTheTokenXYZ0123456789"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def lines_by_check(output: str) -> dict[str, str]:
    """{check name: status} from doctor's `STATUS name: detail` lines (every line must parse)."""
    found = {}
    for line in output.splitlines():
        match = re.fullmatch(r"(PASS|FAIL|SKIP) ([a-z-]+): .+", line)
        assert match, f"not a check line: {line!r}"
        found[match.group(2)] = match.group(1)
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "MARKETBOT_")):
            monkeypatch.delenv(name)
    return monkeypatch


# -- deploy/ files --------------------------------------------------------------------------


def _readme_install_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\*\*Install and run\*\*.*?```sh\n(.*?)```", readme, re.S)
    assert block, "README has no 'Install and run' block"
    [command] = [part.strip() for part in block.group(1).split("&&") if "pip install" in part]
    return command


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_installs_the_readme_package_from_the_lock() -> None:
    # The README installs the package with its dependencies resolved by pip; the image installs
    # the same package with the dependencies pinned and hash-checked by deploy/requirements.lock
    # (tests/test_deploy_kit.py checks the lock covers pyproject.toml).
    readme_cmd = _readme_install_command()
    assert readme_cmd == "python -m pip install ."
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    pip_runs = [r for r in runs if "pip install" in r]
    assert pip_runs == [
        "python -m pip install --require-hashes -r deploy/build.lock",
        "/opt/marketbot/bin/python -m pip install --require-hashes -r deploy/requirements.lock",
        "python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . "
        "&& /opt/marketbot/bin/python -m pip install --no-deps /tmp/wheels/marketbot-*.whl "
        "&& /opt/marketbot/bin/python -m pip check",
    ]


def test_dockerfile_shape() -> None:
    ins = dockerfile_instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2
    for f in froms:  # Python 3.11 slim, pinned by digest (tests/test_deploy_kit.py)
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}( AS \w+)?", f)
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "MARKETBOT_DB=/data/marketbot.db" in env
    assert ("VOLUME", "/data") in ins
    [health] = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert '"doctor", "--store-only"' in health
    assert ins[-1] == ("CMD", '["marketbot", "run"]')
    # Every path the build copies exists in the repository (the context is the repo root).
    for word, rest in ins:
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert (REPO / src).exists(), src


def test_compose_file() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    assert "\t" not in text
    assert re.search(r"^\s+dockerfile: deploy/Dockerfile$", text, re.M)
    assert re.search(r"^\s+context: \.\.$", text, re.M)
    assert re.search(r"^\s+env_file: \.env\b", text, re.M)
    assert re.search(r"^\s+restart: (unless-stopped|always|on-failure)$", text, re.M)
    assert re.search(r"^\s+- marketbot-data:/data\b", text, re.M)
    assert re.search(r"^volumes:\n  marketbot-data:", text, re.M)


def test_env_example_lists_every_setting() -> None:
    config = (REPO / "bot" / "config.py").read_text(encoding="utf-8")
    settings = set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", config))
    assert {"TELEGRAM_BOT_TOKEN", "MARKETBOT_WEBHOOK_SECRET", "MARKETBOT_USER_LIMIT"} <= settings
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.M))
    assert settings <= listed, settings - listed
    # Every active line parses with the real Settings (an empty integer would not).
    env = dict(re.findall(r"^([A-Z_]+)=(.*)$", example, re.M))
    assert "MARKETBOT_DB" not in env  # the image and the unit choose it
    env["TELEGRAM_BOT_TOKEN"] = TOKEN
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from bot.config import Settings

        s = Settings.from_env()
        assert s.user_limit_per_minute > 0 and s.followup_ttl_seconds > 0


def _unit() -> str:
    return (DEPLOY / "marketbot.service").read_text(encoding="utf-8")


def test_unit_settings() -> None:
    unit = _unit()
    for line in (
        "Restart=on-failure",
        "StateDirectory=marketbot",
        "Environment=MARKETBOT_DB=%S/marketbot/marketbot.db",
        "EnvironmentFile=/etc/marketbot/env",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
        "ExecStart=/opt/marketbot/bin/marketbot run",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line
    assert re.search(r"^TimeoutStopSec=\d+s?$", unit, re.M)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    marketbot = shutil.which("marketbot") or str(Path(sys.executable).parent / "marketbot")
    assert Path(marketbot).exists()
    unit = tmp_path / "marketbot.service"  # the unit name matters to verify
    unit.write_text(_unit().replace("/opt/marketbot/bin/marketbot", marketbot))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 even for unknown keys and unparsable values: any message is a problem.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if str(unit) in line or "marketbot.service" in line
    ]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr


def test_caddyfile_proxies_to_the_webhook_port() -> None:
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(r"^\s*reverse_proxy 127\.0\.0\.1:8443$", caddy, re.M)
    assert caddy.count("{") == caddy.count("}")
    assert "MARKETBOT_WEBHOOK_SECRET" in caddy


def test_readme_deploy_section() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "## Deploy" in readme
    deploy = readme[readme.index("## Deploy") :]
    for needle in (
        "BotFather",
        "cp deploy/.env.example deploy/.env",
        "docker compose -f deploy/docker-compose.yml up -d",
        "python -m pip install .",
        "/etc/marketbot/env",
        "systemctl enable --now marketbot",
        "MARKETBOT_WEBHOOK_SECRET",
        "marketbot doctor",
        "marketbot backup",
        "journalctl -u marketbot",
        "MARKETBOT_LOG_LEVEL",
        "-wal",
    ):
        assert needle in deploy, needle


# -- doctor ---------------------------------------------------------------------------------


def test_doctor_store_only_on_a_good_store(fresh_db, db_path: Path, clean_env) -> None:
    figures = fresh_db.count_facts()
    result = run("doctor", "--store-only", "--db", str(db_path))
    assert result.exit_code == 0, result.output
    checks = lines_by_check(result.output)
    assert checks == {
        "config": "PASS",
        "state-dir": "PASS",
        "store": "PASS",
        "token": "SKIP",
        "webhook": "SKIP",
    }
    assert f"{figures:,} figures" in result.output and "newest period 2019Q3" in result.output


def test_doctor_missing_store_passes_without_building_it(tmp_path: Path, clean_env) -> None:
    path = tmp_path / "state" / "marketbot.db"
    result = run("doctor", "--store-only", "--db", str(path))
    assert result.exit_code == 0, result.output
    assert lines_by_check(result.output)["store"] == "PASS"
    assert "built on first use" in result.output
    assert not path.exists() and not path.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_doctor_unwritable_state_dir_fails(tmp_path: Path, clean_env) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("doctor", "--store-only", "--db", str(folder / "marketbot.db"))
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 1
    checks = lines_by_check(result.output)
    assert checks["state-dir"] == "FAIL" and checks["store"] == "FAIL"


@pytest.mark.parametrize("damage", ["header", "pages", "random"])
def test_doctor_corrupted_store_fails_cleanly(
    fresh_db, db_path: Path, clean_env, damage: str
) -> None:
    fresh_db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fresh_db.close()
    data = bytearray(db_path.read_bytes())
    if damage == "header":
        data[:100] = b"garbage!" * 12 + b"junk"
    elif damage == "pages":
        data[4096 * 2 : 4096 * 4] = b"\xff" * 8192
    else:
        data = bytearray(os.urandom(len(data)))
    db_path.write_bytes(bytes(data))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "doctor", "--store-only", "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    checks = lines_by_check(result.stdout)
    assert checks["store"] == "FAIL"
    assert checks["config"] == "PASS"


def test_doctor_not_a_marketbot_store(tmp_path: Path, clean_env) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something (x)")
    conn.close()
    result = run("doctor", "--store-only", "--db", str(path))
    assert result.exit_code == 1
    assert "FAIL store:" in result.output and "not a marketbot store" in result.output


def test_doctor_without_token_fails_with_clear_message(fresh_db, db_path: Path, clean_env) -> None:
    result = run("doctor", "--db", str(db_path))
    assert result.exit_code == 1
    checks = lines_by_check(result.output)
    assert checks["token"] == "FAIL" and checks["store"] == "PASS"
    assert "TELEGRAM_BOT_TOKEN is not set" in result.output


@pytest.mark.parametrize(
    ("name", "value", "expect"),
    [
        ("MARKETBOT_USER_LIMIT", "many", "MARKETBOT_USER_LIMIT"),  # empty means unset
        ("MARKETBOT_ALLOWED_CHATS", "12,abc", "MARKETBOT_ALLOWED_CHATS"),
        ("MARKETBOT_LOG_LEVEL", "chatty", "MARKETBOT_LOG_LEVEL"),
        ("MARKETBOT_WEBHOOK_SECRET", "has spaces!", "MARKETBOT_WEBHOOK_SECRET"),
    ],
)
def test_doctor_bad_settings_fail(
    db_path: Path, clean_env, name: str, value: str, expect: str
) -> None:
    clean_env.setenv(name, value)
    result = run("doctor", "--store-only", "--db", str(db_path))
    assert result.exit_code == 1
    assert lines_by_check(result.output)["config"] == "FAIL"
    assert expect in result.output


async def _doctor(db_path: Path, **env: str) -> tuple[int, str]:
    """`marketbot doctor` in a subprocess, without blocking the loop the fake server runs in."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MARKETBOT_"))}
    full.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        "--db",
        str(db_path),
        cwd=REPO,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    return proc.returncode, out.decode()


async def test_doctor_against_the_fake_bot_api(fresh_db, db_path: Path, fake_api) -> None:
    code, out = await _doctor(
        db_path, TELEGRAM_BOT_TOKEN=fake_api.token, TELEGRAM_API_BASE_URL=fake_api.base_url
    )
    assert code == 0, out
    assert lines_by_check(out) == dict.fromkeys(
        ("config", "state-dir", "store", "token", "webhook"), "PASS"
    )
    assert f"@{fake_api.username} (id {fake_api.bot_id})" in out
    assert "no webhook set (long polling), 0 pending" in out
    assert {"getMe", "getWebhookInfo"} <= {r.method for r in fake_api.requests}
    assert fake_api.token not in out and fake_api.token.split(":")[1] not in out
    fake_api.assert_no_rejections()


async def test_doctor_wrong_token_fails(fresh_db, db_path: Path, fake_api) -> None:
    wrong = "7000000001:AAWrongTokenWrongTokenWrongToken000"
    code, out = await _doctor(
        db_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=fake_api.base_url
    )
    assert code == 1, out
    checks = lines_by_check(out)
    assert checks["token"] == "FAIL" and checks["webhook"] == "SKIP"
    assert "rejected" in out and "Traceback" not in out
    assert wrong not in out and wrong.split(":")[1] not in out


async def test_doctor_reports_webhook_errors(fresh_db, db_path: Path, fake_api) -> None:
    fake_api.webhook_info.update(
        url="https://bot.example.com/telegram",
        last_error_date=int(time.time()) - 60,
        last_error_message="Wrong response from the webhook: 502 Bad Gateway",
    )
    code, out = await _doctor(
        db_path, TELEGRAM_BOT_TOKEN=fake_api.token, TELEGRAM_API_BASE_URL=fake_api.base_url
    )
    assert code == 1, out
    checks = lines_by_check(out)
    assert checks["token"] == "PASS" and checks["webhook"] == "FAIL"
    assert "url https://bot.example.com/telegram" in out and "502 Bad Gateway" in out


async def test_doctor_old_webhook_error_is_only_reported(fresh_db, db_path: Path, fake_api) -> None:
    fake_api.webhook_info.update(
        url="https://bot.example.com/telegram",
        last_error_date=int(time.time()) - 3 * 86400,
        last_error_message="Connection timed out",
    )
    code, out = await _doctor(
        db_path, TELEGRAM_BOT_TOKEN=fake_api.token, TELEGRAM_API_BASE_URL=fake_api.base_url
    )
    assert code == 0, out
    assert "PASS webhook:" in out and "Connection timed out" in out


async def test_doctor_unreachable_api_fails(fresh_db, db_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = await _doctor(
        db_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot"
    )
    assert code == 1, out
    assert "FAIL token: cannot reach" in out and TOKEN not in out


# -- backup ---------------------------------------------------------------------------------


def _check_copy(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return conn


def test_backup_while_the_store_is_written(fresh_db, db_path: Path, tmp_path: Path) -> None:
    figures = fresh_db.count_facts()
    stop = threading.Event()
    errors: list[BaseException] = []
    writes = [0]

    def writer() -> None:
        # Each transaction adds questions and a scratch figure, removes the figure and records
        # the question count in meta: a consistent snapshot has meta == count(*) and no scratch.
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                for i in range(20):
                    conn.execute(
                        "INSERT INTO unanswered (text, normalized, status, chat_kind, at) "
                        "VALUES (?, ?, 'not_found', 'private', '2024-01-01')",
                        (f"q{writes[0]}-{i}", f"q{writes[0]}"),
                    )
                conn.execute(
                    "INSERT INTO facts_all SELECT metric, segment, platform, '1999Q1', value, "
                    "qualifier, unit, source, stated_pct, note, note_zh, 'scratch', updated_at, 0 "
                    "FROM facts LIMIT 1"
                )
                conn.execute("DELETE FROM facts_all WHERE file = 'scratch'")
                conn.execute(
                    "INSERT INTO meta (key, value) SELECT 'test_count', count(*) FROM unanswered "
                    "WHERE true ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                )
                conn.execute("COMMIT")
                writes[0] += 1
        except BaseException as e:
            errors.append(e)
        finally:
            conn.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        copies = []
        for n in range(5):
            while writes[0] < (n + 1) * 5 and thread.is_alive():
                stop.wait(0.005)
            dest = tmp_path / "backups" / f"copy{n}.db"
            result = run("backup", "--db", str(db_path), str(dest))
            assert result.exit_code == 0, result.output
            assert f"{figures:,} figures" in result.output
            copies.append(dest)
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert writes[0] >= 25
    counts = []
    for dest in copies:
        conn = _check_copy(dest)
        assert conn.execute("SELECT count(*) FROM facts").fetchone()[0] == figures
        assert conn.execute("SELECT count(*) FROM facts WHERE file = 'scratch'").fetchone() == (0,)
        stored = conn.execute("SELECT value FROM meta WHERE key = 'test_count'").fetchone()
        count = conn.execute("SELECT count(*) FROM unanswered").fetchone()[0]
        assert count % 20 == 0 and ((stored is None and count == 0) or int(stored[0]) == count)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        conn.close()
        counts.append(count)
        assert not Path(str(dest) + "-wal").exists()
    assert counts == sorted(counts) and counts[-1] > 0
    # Only the copies are left in the folder: no temporary files.
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [p.name for p in copies]
    # A copy is a working store.
    restored = open_store(copies[-1])
    assert restored.count_facts() == figures
    restored.close()


def test_backup_refuses_to_overwrite(fresh_db, db_path: Path, tmp_path: Path) -> None:
    dest = tmp_path / "backup.db"
    dest.write_bytes(b"keep me")
    result = run("backup", "--db", str(db_path), str(dest))
    assert result.exit_code == 1
    assert "exists" in result.output and "--force" in result.output
    assert dest.read_bytes() == b"keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    result = run("backup", "--force", "--db", str(db_path), str(dest))
    assert result.exit_code == 0, result.output
    conn = _check_copy(dest)
    assert conn.execute("SELECT count(*) FROM facts").fetchone()[0] == fresh_db.count_facts()
    conn.close()


def test_backup_refuses_the_live_store_and_missing_stores(
    fresh_db, db_path: Path, tmp_path: Path
) -> None:
    result = run("backup", "--force", "--db", str(db_path), str(db_path))
    assert result.exit_code == 1 and "live store" in result.output
    assert fresh_db.count_facts() > 0
    missing = tmp_path / "nothing.db"
    result = run("backup", "--db", str(missing), str(tmp_path / "out.db"))
    assert result.exit_code == 1 and "no store" in result.output
    assert not missing.exists() and not (tmp_path / "out.db").exists()


def test_backup_of_a_corrupted_store_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(os.urandom(8192))
    out = tmp_path / "out"
    out.mkdir()
    result = run("backup", "--db", str(bad), str(out / "copy.db"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert list(out.iterdir()) == []


# -- logging --------------------------------------------------------------------------------


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_level = logging.getLogger("httpx").level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)
    logging.getLogger("httpcore").setLevel(logging.NOTSET)


def test_redact_token_in_message_args_and_traceback(restore_logging, capsys) -> None:
    handler = configure_logging("DEBUG")
    handler.addFilter(RedactToken(TOKEN))
    log = logging.getLogger("marketbot.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning(f"token in the message itself: {TOKEN}")
    log.error("url-encoded: %s", TOKEN.replace(":", "%3A"))
    log.info("dict args %(url)s", {"url": "bot" + TOKEN})
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        log.exception("failed")
    err = capsys.readouterr().err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err
    assert err.count("[token]") >= 5
    assert "bot[token]/getMe" in err and "RuntimeError: The token `[token]`" in err


def test_configure_logging_format_level_and_quiet_httpx(restore_logging, capsys) -> None:
    configure_logging("warning", token=TOKEN)
    logging.getLogger("marketbot.x").info("hidden at WARNING")
    logging.getLogger("marketbot.x").warning("shown %s", TOKEN)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING marketbot\.x: shown \[token\]", err[0]
    )

    configure_logging("INFO", token=TOKEN)  # replaces the handler: one line per record
    logging.getLogger("httpx").info(
        f'HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getMe "200"'
    )
    logging.getLogger("marketbot.x").info("once")
    err = capsys.readouterr().err
    assert err.count("once") == 1 and "HTTP Request" not in err and TOKEN not in err
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty")


def test_run_command_logs_never_show_the_token(restore_logging, caplog) -> None:
    """The filter as `run` attaches it: on every root handler, caplog's included."""
    redact = RedactToken(TOKEN)
    caplog.handler.addFilter(redact)
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("telegram.ext.Updater").debug("Network loop: %s", f"bot{TOKEN}")
            logging.getLogger("telegram.Bot").error("oops", exc_info=ValueError(TOKEN))
    finally:
        caplog.handler.removeFilter(redact)
    assert TOKEN not in caplog.text and "bot[token]" in caplog.text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_readme_backup_timer_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    deploy = readme[readme.index("## Deploy") :]
    units = dict(re.findall(r"```ini\n# /etc/systemd/system/(\S+)\n(.*?)```", deploy, re.S))
    assert set(units) == {"marketbot-backup.service", "marketbot-backup.timer"}
    marketbot = shutil.which("marketbot") or str(Path(sys.executable).parent / "marketbot")
    for name, text in units.items():
        (tmp_path / name).write_text(text.replace("/opt/marketbot/bin/marketbot", marketbot))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in sorted(units))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "marketbot-backup" not in output, output


# -- private files --------------------------------------------------------------------------
# The store holds chat ids and people's unanswered questions: marketbot makes it, its folders,
# its -wal/-shm files and its backups readable by their owner only, whatever the umask.


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MARKETBOT_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # click's app dir on Linux
    env["HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def _marketbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # The real process, with the common permissive umask: 022 would leave new files 0644.
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,
    )


@pytest.mark.parametrize("how", ["default path", "--db", "MARKETBOT_DB"])
def test_the_cli_creates_the_store_private(tmp_path: Path, how: str) -> None:
    if how == "default path":
        created = [tmp_path / "config", tmp_path / "config" / "marketbot"]
        env, args = _cli_env(tmp_path), []
    elif how == "--db":
        created = [tmp_path / "a", tmp_path / "a" / "b"]
        env, args = _cli_env(tmp_path), ["--db", str(created[-1] / "store.db")]
    else:
        created = [tmp_path / "env"]
        env, args = _cli_env(tmp_path, MARKETBOT_DB=str(created[-1] / "store.db")), []
    result = _marketbot(env, "ask", *args, "aftermarket DAU Q3")
    assert result.returncode == 0, result.stderr
    assert "27,200" in result.stdout
    [store] = [p for p in created[-1].iterdir() if p.suffix == ".db"]
    assert _mode(store) == 0o600
    assert {str(d): _mode(d) for d in created} == {str(d): 0o700 for d in created}


async def test_the_running_bot_keeps_wal_and_shm_private(fake_api, tmp_path: Path) -> None:
    from tests.fake_bot_api import DEFAULT_USER_ID

    folder = tmp_path / "state"
    db = folder / "marketbot.db"
    env = _cli_env(
        tmp_path,
        MARKETBOT_DB=str(db),
        TELEGRAM_BOT_TOKEN=fake_api.token,
        TELEGRAM_API_BASE_URL=fake_api.base_url,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        umask=0o022,
    )
    try:
        await fake_api.wait_for("setMyCommands", count=2, timeout=60)
        since = time.monotonic()
        # An unanswerable question is written to the store (the unanswered table).
        fake_api.push_update(fake_api.make_private_message("weather in Paris tomorrow"))
        await fake_api.wait_for("sendMessage", since=since, timeout=30)
        modes = {p.name: _mode(p) for p in folder.iterdir()}
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert fake_api.sent("sendMessage", chat_id=DEFAULT_USER_ID), err.decode()
    assert modes == {
        "marketbot.db": 0o600,
        "marketbot.db-wal": 0o600,
        "marketbot.db-shm": 0o600,
    }, modes
    assert _mode(folder) == 0o700


def test_backups_are_private(fresh_db, db_path: Path, tmp_path: Path) -> None:
    fresh_db.close()
    os.chmod(db_path, 0o644)  # a store made by an older version: the copy is private anyway
    env = _cli_env(tmp_path, MARKETBOT_DB=str(db_path))
    dest = tmp_path / "backups" / "daily" / "copy.db"
    result = _marketbot(env, "backup", str(dest))
    assert result.returncode == 0, result.stderr
    assert _mode(dest) == 0o600
    assert _mode(dest.parent) == 0o700 and _mode(dest.parent.parent) == 0o700
    # --force over a readable older copy: the new file (renamed over it) is private too.
    # os.replace keeps the temporary file's mode, so the copy was 0600 while being written.
    os.chmod(dest, 0o644)
    result = _marketbot(env, "backup", "--force", str(dest))
    assert result.returncode == 0, result.stderr
    assert _mode(dest) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.db"]
