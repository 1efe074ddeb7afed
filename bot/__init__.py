"""marketbot: exact, sourced market figures from industry research reports, on Telegram."""

__version__ = "0.1.0"
