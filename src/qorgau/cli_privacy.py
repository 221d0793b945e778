"""The ``qorgau privacy`` commands: consent, retention, erasure and the panic lock."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main ``qorgau`` app."""
