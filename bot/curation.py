"""Adding a report file for a curator: a preview that writes nothing, then the import.

A thin layer over `bot.ingest`'s `plan_ingest` (check and stage, the store only read) and
`apply_ingest` (one short transaction), adding what a curator in a chat needs: the upload size
limit, the first figures worded as the bot will answer them, and who imported it (history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .db import Store
from .errors import IngestError
from .format import figure_text
from .models import Fact, Period, Source
from .vocab import Vocabulary

if TYPE_CHECKING:  # bot.ingest imports pandas: loaded on the first upload, not at start-up
    from .ingest import IngestPlan, NewKey

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # bots may download files up to 20 MB


def max_upload_bytes() -> int:
    """The largest file a curator may send: Telegram's limit, or ingest's own when smaller."""
    from .readers import MAX_FILE_BYTES

    return min(TELEGRAM_DOWNLOAD_LIMIT, MAX_FILE_BYTES)


@dataclass
class Preview:
    """What importing a file would do; nothing is written to make it."""

    file: str
    plan: IngestPlan | None = None
    error: str | None = None  # the headline when the file is refused
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    samples: list[str] = field(default_factory=list)  # the first figures as answers read

    @property
    def ok(self) -> bool:
        return self.error is None and self.plan is not None

    def report(self) -> str:
        """The refusal with its row-numbered reasons, as `marketbot ingest` prints it."""
        return IngestError(self.error or "", self.errors).report()

    def text(self) -> str:
        """The preview as plain text lines (the chat escapes it)."""
        if not self.ok or self.plan is None:
            return self.report()
        plan = self.plan
        lines = [
            plan.summary(),
            f"Periods: {', '.join(plan.periods)}"
            + (f" (new: {', '.join(plan.new_periods)})" if plan.new_periods else " (none new)"),
        ]
        for k in plan.new_keys:
            names = " / ".join(n for n in (k.en, k.zh) if n)
            lines.append(
                f"New {k.kind}: {k.key}" + (f" — {names}" if names else " (no names declared)")
            )
        lines.extend(f"⚠ {w}" for w in plan.warnings)
        if self.samples:
            lines.append("First figures, as the bot will answer them:")
            lines.extend(f"• {s}" for s in self.samples)
        return "\n".join(lines)

    def discard(self) -> None:
        if self.plan is not None:
            self.plan.discard()


def _labelled(store: Store, new_keys: list[NewKey]) -> Vocabulary:
    """The store's vocabulary plus the file's declared names, for the sample lines."""
    vocab = store.vocabulary
    if not any(k.en for k in new_keys):
        return vocab
    copy = Vocabulary(labels=dict(vocab.labels))
    for k in new_keys:
        if k.en:
            copy.labels[(k.kind, k.key)] = {"en": k.en, "zh": k.zh, "short_en": "", "short_zh": ""}
    return copy


def _sample(store: Store, vocab: Vocabulary, plan: IngestPlan, rec: dict) -> str:
    src = next((s for s in plan._sources if s["id"] == rec["source"]), None)
    source = (
        Source(rec["source"], src["title"], src["publisher"], src["published"])
        if src
        else store.source(rec["source"])
    )
    fact = Fact(
        rec["metric"],
        rec["segment"],
        rec["platform"] or None,
        Period.parse(rec["period"]),
        float(rec["value"]),
        rec["qualifier"],
        rec["unit"],
        source,
    )
    head = vocab.label("segment", fact.segment, "en")
    if fact.platform:
        head += " " + vocab.label("platform", fact.platform, "en")
    head += " · " + vocab.label("metric", fact.metric, "en", short=True)
    return f"{head}, {fact.period.human('en')}: {figure_text(fact, vocab, 'en')}"


def preview_file(store: Store, path: Path | str, file_name: str | None = None) -> Preview:
    """Everything an import of ``path`` would do, computed without writing to the store."""
    from .ingest import plan_ingest

    path = Path(path)
    name = file_name or path.name
    limit = max_upload_bytes()
    try:
        size = path.stat().st_size
        if size > limit:
            return Preview(name, error=f"{name}: {size:,} bytes is over the {limit:,}-byte limit")
        plan = plan_ingest(store, path)
    except IngestError as e:
        message = str(e).replace(path.name, name, 1)
        return Preview(name, error=message, errors=e.errors)
    except OSError as e:
        return Preview(name, error=f"{name}: cannot read it: {e.strerror or e}")
    plan.file = name
    if not plan.ok:
        errors = plan.errors
        plan.discard()
        return Preview(
            name,
            error=f"{name}: {len(errors)} problem{'s' if len(errors) != 1 else ''}; "
            "nothing was changed",
            errors=errors,
        )
    vocab = _labelled(store, plan.new_keys)
    return Preview(name, plan, samples=[_sample(store, vocab, plan, r) for r in plan.samples])


@dataclass
class Imported:
    result: IngestPlan

    def summary(self) -> str:
        text = self.result.summary()
        named = [k for k in self.result.new_keys if k.en]
        if named:
            text += "; named: " + ", ".join(f"{k.kind} {k.key} ({k.en} / {k.zh})" for k in named)
        return text


def import_file(
    store: Store,
    path: Path | str,
    *,
    who: str,
    file_name: str | None = None,
    preview: Preview | None = None,
) -> Imported:
    """Write a file's figures and declared names in one transaction: all or nothing.

    With the ``preview`` a curator saw, its checked plan is written (unless the store changed
    since: then the file is checked again). Raises IngestError, nothing written, for a file
    that does not validate.
    """
    from .ingest import apply_ingest

    path = Path(path)
    name = file_name or path.name
    for attempt in range(2):
        if preview is not None and preview.ok and attempt == 0:
            plan = preview.plan
        else:
            fresh = preview_file(store, path, name)
            if not fresh.ok:
                raise IngestError(fresh.error or name, fresh.errors)
            plan = fresh.plan
        assert plan is not None
        try:
            return Imported(apply_ingest(store, plan, who=who))
        except IngestError as e:
            if attempt or "store changed" not in str(e):
                raise
    raise AssertionError("unreachable")
