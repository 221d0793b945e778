"""One importer per export format, each returning the observations it read and the rows it
could not (with file and line), so one broken row never costs the rest of an export."""

from qorgau.observe.importers.ad_pages import import_ad_pages, read_ad_page
from qorgau.observe.importers.ads import import_ads_jsonl
from qorgau.observe.importers.calls import import_call_log
from qorgau.observe.importers.dispatch import FORMATS, guess_format, import_file
from qorgau.observe.importers.mbox import import_mbox
from qorgau.observe.importers.posts import (
    import_posts_csv,
    import_posts_jsonl,
    read_observations_jsonl,
)
from qorgau.observe.importers.telegram import import_telegram

__all__ = [
    "FORMATS",
    "guess_format",
    "import_ad_pages",
    "import_ads_jsonl",
    "import_call_log",
    "import_file",
    "import_mbox",
    "import_posts_csv",
    "import_posts_jsonl",
    "import_telegram",
    "read_ad_page",
    "read_observations_jsonl",
]
