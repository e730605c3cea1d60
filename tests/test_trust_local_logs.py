"""An exception log quotes neither the SQL parameters nor the local variables of its frames:
both carry personal data (here a staff member's e-mail address)."""

from __future__ import annotations

import logging

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.observability import configure_logging
from services.common.store import EventStore, async_database_url

STAFF_EMAIL = "claire.referente@cress-bretagne.fr"
FAILING = text("SELECT CAST(:email AS text), 1 / (SELECT count(*) FROM pg_am WHERE false)")


@pytest.fixture
def restore_logging():
    config, handlers = structlog.get_config(), logging.getLogger().handlers[:]
    yield
    structlog.configure(**config)
    logging.getLogger().handlers[:] = handlers


async def _failure(engine) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with engine.connect() as conn:
            await conn.execute(FAILING, {"email": STAFF_EMAIL})
    return caught.value


async def test_sql_errors_do_not_quote_their_parameters(database_url):
    plain = create_async_engine(async_database_url(database_url))
    store = EventStore.connect(database_url, "intake", pool_size=1)
    try:
        assert STAFF_EMAIL in str(await _failure(plain))  # what the setting hides
        hidden = await _failure(store.engine)
        assert "division by zero" in str(hidden) and STAFF_EMAIL not in str(hidden)
    finally:
        await plain.dispose()
        await store.dispose()


def _look_up(staff_email: str) -> None:
    raise LookupError("aucun compte pour cette adresse")


@pytest.mark.parametrize("json", [True, False])
async def test_exception_logs_show_no_parameters_nor_local_variables(
        database_url, capsys, restore_logging, json):
    configure_logging("INFO", json=json, service="intake")
    log = structlog.get_logger("test")
    store = EventStore.connect(database_url, "intake", pool_size=1)
    try:
        try:
            async with store.engine.connect() as conn:
                await conn.execute(FAILING, {"email": STAFF_EMAIL})
        except DBAPIError:
            log.exception("query failed")
            logging.getLogger("sqlalchemy.test").exception("query failed (standard logging)")
        try:
            _look_up(STAFF_EMAIL)
        except LookupError:
            log.exception("look-up failed")
    finally:
        await store.dispose()
    logged = capsys.readouterr().err
    assert logged.count("division by zero") >= 2 and "aucun compte" in logged
    assert STAFF_EMAIL not in logged
