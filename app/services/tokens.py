"""Connector tokens in the database: the TokenStore every worker and host shares.

Reads and writes use their own short transactions on the engine, not the caller's session: a token
is a cache beside the run, and saving one must never commit (or roll back) the caller's work.
`forget` is the exception: it belongs to the connector change that makes the tokens stale.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.crypto import SecretsUnreadable
from app.db import db
from app.models import ConnectorToken, utcnow
from app.services import keyring
from app.types.kit.tokens import CachedToken, Token

log = logging.getLogger(__name__)

# Two writers race only between one's UPDATE finding nothing and its INSERT; the loser's retry
# finds the winner's row, so a second attempt is enough and a third is slack.
SAVE_ATTEMPTS = 3


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything here is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class DatabaseTokenStore:
    """The tokens of one saved connector."""

    def __init__(self, connector_id: str):
        self.connector_id = connector_id

    def _owner(self, kind: str) -> str:
        # Bound into the ciphertext, so a token copied onto another connector's row is refused.
        return f"token:{self.connector_id}:{kind}"

    def _row(self, kind: str):
        return (ConnectorToken.connector_id == self.connector_id) & (ConnectorToken.kind == kind)

    def load(self, kind: str) -> CachedToken | None:
        """The cached token, or None when there is none or no configured key can decrypt it."""
        query = select(
            ConnectorToken.token_encrypted, ConnectorToken.token_type, ConnectorToken.fingerprint,
            ConnectorToken.expires_at,
        ).where(self._row(kind))
        with db.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        try:
            access_token = keyring().decrypt(self._owner(kind), row.token_encrypted).get("access_token")
        except SecretsUnreadable:
            log.info("the cached %s token of connector %s cannot be decrypted; fetching a new one", kind,
                     self.connector_id)
            return None
        if not isinstance(access_token, str) or not access_token:
            return None
        return CachedToken(Token(access_token, row.token_type, _aware(row.expires_at)), row.fingerprint)

    def save(self, kind: str, token: Token, fingerprint: str) -> None:
        """Insert or replace the connector's token of this kind, safely against a concurrent writer."""
        now = utcnow()
        values = {
            "token_encrypted": keyring().encrypt(self._owner(kind), {"access_token": token.access_token}),
            "token_type": token.token_type,
            "fingerprint": fingerprint,
            "expires_at": token.expires_at,
            "updated_at": now,
        }
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                with db.engine.begin() as connection:
                    replaced = connection.execute(update(ConnectorToken).where(self._row(kind)).values(**values))
                    if replaced.rowcount == 0:
                        connection.execute(
                            insert(ConnectorToken).values(
                                connector_id=self.connector_id, kind=kind, created_at=now, **values
                            )
                        )
                return
            except IntegrityError:
                # Another worker inserted the same row between our UPDATE and INSERT.
                if attempt == SAVE_ATTEMPTS:
                    raise

    def drop(self, kind: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(ConnectorToken).where(self._row(kind)))


def forget(*connector_ids: str) -> int:
    """Delete every token of these connectors, in the caller's session: commit it with the connector change.

    Called when a connector is updated or deleted, so no token outlives the credentials it came from.
    """
    result = db.session.execute(delete(ConnectorToken).where(ConnectorToken.connector_id.in_(connector_ids)))
    return result.rowcount or 0
