"""Why a report file was refused, with its row-numbered reasons.

Apart from `bot.ingest` (which imports pandas) so that the bot can catch it without loading
pandas until a curator actually uploads a file.
"""

from __future__ import annotations

MAX_ERRORS_SHOWN = 20


class IngestError(Exception):
    """The file was rejected; nothing was written."""

    def __init__(self, message: str, errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

    def report(self) -> str:
        lines = [str(self)]
        for row, reason in self.errors[:MAX_ERRORS_SHOWN]:
            lines.append(f"  row {row}: {reason}" if row else f"  {reason}")
        if len(self.errors) > MAX_ERRORS_SHOWN:
            lines.append(f"  … and {len(self.errors) - MAX_ERRORS_SHOWN:,} more")
        return "\n".join(lines)
