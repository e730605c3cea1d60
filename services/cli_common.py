"""What every part of the ``success`` command shares: its consoles, the ``--data-dir``
option, the settings and how a command fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dossier des données du système embarqué "
                 "(défaut : dossier de données de l'utilisateur, ou SUCCESS_DATA_DIR).",
                 show_default=False),
]


def load_settings():
    from services.common.settings import get_settings

    return get_settings()


def fail(message: str) -> None:
    """A French message on stderr, exit code 2."""
    err.print(f"[red]Erreur :[/red] {message}")
    raise typer.Exit(code=2)
