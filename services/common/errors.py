"""The one error a pure domain raises: no web framework here (the shell maps it to HTTP)."""

from __future__ import annotations


class DomainError(Exception):
    """A command the rules refuse: ``code`` for programs, ``message`` in French for people.

    ``status`` is the HTTP answer the shell gives: 404 for what does not exist, 409 for a
    command that does not fit the current state, 422 for a value the rules refuse."""

    def __init__(self, code: str, message: str, field: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status or (404 if code.endswith("not_found") else 409)
