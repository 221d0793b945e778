"""The ``qorgau keys`` commands: rotate the data key and re-encrypt stored fields."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main ``qorgau`` app."""
