"""Reports that arrive outside the web form: by e-mail and through a Telegram bot.

Every door ends in ``filing.file_inbound_report`` (or its two halves), so a message becomes the
same kind of incident, with its attachments kept as evidence, whichever way it came. The SMTP
endpoint and the bot live in their own modules and are imported only by whoever runs them.
"""

from qorgau.inbound.filing import (
    FilingResult,
    InboundReport,
    MessageRejected,
    file_inbound_report,
    guess_language,
)

__all__ = [
    "FilingResult",
    "InboundReport",
    "MessageRejected",
    "file_inbound_report",
    "guess_language",
]
