"""`marketbot doctor`'s network checks: the token (getMe) and the webhook (getWebhookInfo),
through the same Bot settings as `marketbot run`."""

from __future__ import annotations

import contextlib
import datetime as dt

from telegram import Bot
from telegram.error import TelegramError

from ..cli_text import plural
from ..config import Settings
from ..ops import RECENT_WEBHOOK_ERROR, Check
from .failures import explain


async def network_checks(settings: Settings) -> list[Check]:
    """getMe and getWebhookInfo through the same Bot settings as `marketbot run`."""
    where = settings.api_base_url
    bot = Bot(settings.token, base_url=where, base_file_url=settings.base_file_url)
    checks: list[Check] = []
    try:
        await bot.initialize()  # calls getMe
        me = bot.bot
        checks.append(Check("PASS", "token", f"getMe: @{me.username} (id {me.id}) via {where}"))
    except TelegramError as e:  # the same one line as `marketbot run` (never PTB's message)
        checks.append(Check("FAIL", "token", explain(e, where).message))
    if checks[0].status != "PASS":
        checks.append(Check("SKIP", "webhook", "needs a working token"))
        with contextlib.suppress(Exception):
            await bot.shutdown()
        return checks
    try:
        info = await bot.get_webhook_info()
    except TelegramError as e:
        checks.append(Check("FAIL", "webhook", f"getWebhookInfo: {explain(e, where).message}"))
    else:
        mode = f"url {info.url}" if info.url else "no webhook set (long polling)"
        detail = f"{mode}, {plural(info.pending_update_count, 'pending update')}"
        status = "PASS"
        if info.last_error_message:
            when = info.last_error_date
            age = dt.datetime.now(dt.UTC) - when if when else None
            stamp = when.isoformat() if when else "unknown time"
            detail += f", last error at {stamp}: {info.last_error_message}"
            if age is None or age < RECENT_WEBHOOK_ERROR:
                status = "FAIL"
        checks.append(Check(status, "webhook", detail))
    finally:
        with contextlib.suppress(Exception):
            await bot.shutdown()
    return checks
