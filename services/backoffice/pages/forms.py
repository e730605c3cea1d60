"""What every back-office form does: read the posted fields, turn them into the services'
JSON, show the services' refusals next to the fields, confirm after success.

The pattern of a page with a form (see pages/signin.py for the anonymous kind)::

    @router.post("/candidatures/{id}/admission")
    async def admit(request: Request, id: UUID, staff: Staff = Depends(signed_in)):
        values = await form_values(request)
        answer = await request.app.state.backend.send(staff.account, "intake",
                                                      f"/staff/applications/{id}/admit",
                                                      payload(values, "note"))
        if not answer.ok:   # 422/409: the same page again, messages next to the fields
            return await application_page(request, id, staff, values, answer.errors, 422)
        return done(f"/candidatures/{id}", "admitted")   # 303, then « … enregistrée. »

Confirmations are French sentences keyed by a short code (``?fait=code``) so that a reload
never re-posts and the message survives the redirect without any state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from services.common.web import PARIS

# code -> the confirmation shown after the redirect (areas add theirs: one dict, no copies)
CONFIRMATIONS: dict[str, str] = {}


def confirmations(entries: Mapping[str, str]) -> None:
    """An area's confirmations, registered at import."""
    clash = set(entries) & set(CONFIRMATIONS)
    if clash:
        raise ValueError(f"confirmation codes defined twice: {sorted(clash)}")
    CONFIRMATIONS.update(entries)


def confirmation(request: Request) -> str | None:
    return CONFIRMATIONS.get(request.query_params.get("fait", ""))


def done(path: str, code: str, **params: str) -> RedirectResponse:
    """After a successful POST: back to a page (GET), which says what was recorded."""
    query = urlencode({**params, "fait": code})
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}{query}", status_code=303)


async def form_values(request: Request, lists: Iterable[str] = ()) -> dict[str, Any]:
    """The posted fields as {name: str}, and {name: [str]} for the multi-valued ``lists``
    (checkboxes); the CSRF token is left out."""
    form = await request.form()
    many = set(lists)
    values: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf":
            continue
        items = [str(v) for v in form.getlist(key) if isinstance(v, str)]
        values[key] = items if key in many else (items[0].strip() if items else "")
    for key in many:
        values.setdefault(key, [])
    return values


def payload(values: Mapping[str, Any], *fields: str, integers: Iterable[str] = (),
            booleans: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON body of a command from a form: empty fields are left out (the service then
    applies its default or says the field is required), integers and checkboxes converted
    only when they are well-formed (otherwise passed as they are, and the service's French
    422 lands next to the field)."""
    integer_fields, boolean_fields = set(integers), set(booleans)
    body: dict[str, Any] = {}
    for field in fields:
        value = values.get(field)
        if field in boolean_fields:
            body[field] = value not in (None, "", "non", "false", [])
            continue
        if value in (None, "", []):
            continue
        if field in integer_fields and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        body[field] = value
    return body


def paris_instant(value: str | None) -> str | None:
    """An ``<input type=datetime-local>`` value (Paris wall time) as an ISO instant with its
    offset, as the services expect; anything unreadable is passed on as it is, so that the
    service's French 422 lands next to the field."""
    if not value:
        return value
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return value
    if local.tzinfo is not None:
        return local.isoformat()
    return local.replace(tzinfo=PARIS).isoformat()


def rekeyed(errors: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """A service's {field: message} with its field names turned into the form's input names
    (two forms of one page may both send a ``reason``)."""
    return {names.get(field, field): message for field, message in errors.items()}


def prefixed(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Fields of one of several forms on a page carry a prefix (unique ids): the service's
    names with the prefix, e.g. its errors shown next to that form's fields."""
    return {f"{prefix}{key}": value for key, value in mapping.items()}


def unprefixed(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The posted fields of a prefixed form under the service's names."""
    return {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}
