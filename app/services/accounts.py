"""Accounts: users with roles, API keys for scripts, and the sign-in throttle.

Roles match Kibana's privileges on connectors: `admin` is "all" (create, edit, delete, test,
import/export, manage users and keys); `viewer` is "read" (list, view, test/execute, event log).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, bindparam, case, delete, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.crypto import SecretsUnreadable
from app.db import core_commit, core_connection, db
from app.models import ROLES, ApiKey, SignInThrottle, User, UserSession, utcnow
from app.services import keyring

PASSWORD_MIN = 8
USERNAME_MAX = 150
# Failed sign-ins allowed before each further one waits 2^(n - FREE_FAILURES) seconds, capped.
FREE_FAILURES = 5
MAX_BLOCK = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
# Checked against when the user does not exist, so both paths cost one scrypt.
_DUMMY_HASH = generate_password_hash("switchboard-dummy-password")


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in user or an API key."""

    name: str
    role: str
    kind: str  # "user" | "api_key"
    user_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        return self.name if self.kind == "user" else f"api key {self.name}"


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f'role must be one of {", ".join(ROLES)} (got "{role}")')


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"password must be at least {PASSWORD_MIN} characters")


def get_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def any_user() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is not None


def create_user(username: str, password: str, role: str) -> User:
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or any(c.isspace() or not c.isprintable() for c in username):
        raise AccountError(f"user name must be 1-{USERNAME_MAX} printable characters without spaces")
    _check_role(role)
    _check_password(password)
    if get_user(username) is not None:
        raise AccountError(f'user "{username}" already exists')
    user = User(username=username, password_hash=generate_password_hash(password), role=role)
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.session_version += 1  # signs out every session of this user
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))  # ... on the server too
    db.session.commit()


def delete_user(user: User) -> None:
    """Delete the account; its sessions end and the API keys it made are revoked with it.

    (A key acts with the role it was given, not its maker's; but a key outliving the person who made it is
    an admin credential no one answers for. Revoked keys stay listed, so the history is kept.)
    """
    db.session.execute(
        update(ApiKey).where(ApiKey.created_by == user.id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    db.session.delete(user)
    db.session.commit()


# ---- server-side sessions ------------------------------------------------------------------------


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(user: User, lifetime: timedelta) -> str:
    """A new session id for this user (goes in the signed cookie); sessions older than `lifetime` are dropped."""
    session_id = secrets.token_urlsafe(32)
    db.session.execute(delete(UserSession).where(UserSession.created_at < utcnow() - lifetime))
    db.session.add(UserSession(id_hash=_session_hash(session_id), user_id=user.id))
    db.session.commit()
    return session_id


def session_is_live(user_id: int, session_id: object) -> bool:
    if not isinstance(session_id, str) or not session_id:
        return False
    row = db.session.get(UserSession, _session_hash(session_id))
    return row is not None and row.user_id == user_id


def end_session(session_id: object) -> None:
    if isinstance(session_id, str) and session_id:
        db.session.execute(delete(UserSession).where(UserSession.id_hash == _session_hash(session_id)))
        db.session.commit()


def ensure_admin(username: str, password: str) -> str:
    """Start-up bootstrap: make sure this admin exists with this password. Says what it did."""
    user = get_user(username)
    if user is None:
        create_user(username, password, "admin")
        return f'Created admin "{username}".'
    changed = []
    if user.role != "admin":
        user.role = "admin"
        changed.append("role")
    if not check_password_hash(user.password_hash, password):
        set_password(user, password)
        changed.append("password")
    db.session.commit()
    return f'Admin "{username}" is ready' + (f" ({' and '.join(changed)} updated)." if changed else ".")


# ---- sign-in with a throttle shared by all workers -------------------------------------------


class SignInBlocked(Exception):
    def __init__(self, seconds: int):
        super().__init__(f"Too many failed sign-ins. Try again in {seconds} second{'s' if seconds != 1 else ''}.")
        self.seconds = seconds


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything here is UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def throttle_key(username: str, address: str) -> str:
    """The throttle row for this user name from this address (hashed: names and addresses may be long)."""
    pair = f"{username[:USERNAME_MAX]}\0{address}".encode()
    return "pair:" + hashlib.sha256(pair).hexdigest()


def address_key(address: str) -> str:
    """The throttle row for every user name tried from this address (password spraying)."""
    return f"addr:{address}" if len(address) <= 64 else "addr:" + hashlib.sha256(address.encode()).hexdigest()


def _block_after(now: datetime, failures_before: Any) -> Any:
    """SQL: when the attempt that makes `failures_before + 1` failures blocks until (NULL while still free)."""
    stamp = lambda seconds: literal(now + timedelta(seconds=seconds), DateTime(timezone=True))  # noqa: E731
    steps = []
    n = FREE_FAILURES
    while timedelta(seconds=2 ** (n + 1 - FREE_FAILURES)) < MAX_BLOCK:
        steps.append((failures_before == n, stamp(2 ** (n + 1 - FREE_FAILURES))))
        n += 1
    return case((failures_before < FREE_FAILURES, null()), *steps, else_=stamp(MAX_BLOCK.total_seconds()))


def _count_failure(key: str, now: datetime, *, unless_blocked: bool) -> bool:
    """Count one failure for `key` atomically (and set the block it earns): True when counted.

    With `unless_blocked`, the same UPDATE first checks the key is not blocked, so parallel attempts each
    see the others: after the free ones exactly one more is let through, then the block refuses the rest.
    """
    _ensure_row(key, now)
    forgotten = SignInThrottle.last_failure_at < literal(now - FORGET_AFTER, DateTime(timezone=True))
    before = case((forgotten, 0), else_=SignInThrottle.failures)
    statement = update(SignInThrottle).where(SignInThrottle.key == key)
    if unless_blocked:
        statement = statement.where(or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until <= now))
    result = db.session.execute(
        statement.values(failures=before + 1, last_failure_at=now, blocked_until=_block_after(now, before))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _ensure_row(key: str, now: datetime) -> None:
    """Insert the key's row unless it exists, without a race (INSERT … ON CONFLICT DO NOTHING)."""
    values = {"key": key, "failures": 0, "last_failure_at": now, "blocked_until": None}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # another database: insert, and take an existing row as fine
        try:
            with db.session.begin_nested():
                db.session.add(SignInThrottle(**values))
        except IntegrityError:
            pass
        return
    db.session.execute(dialect_insert(SignInThrottle).values(**values).on_conflict_do_nothing(index_elements=["key"]))


def _blocked(keys: list[str], now: datetime) -> SignInBlocked | None:
    db.session.expire_all()
    rows = db.session.scalars(select(SignInThrottle).where(SignInThrottle.key.in_(keys)))
    until = max((b for row in rows if (b := _aware(row.blocked_until)) and b > now), default=None)
    return SignInBlocked(max(1, int((until - now).total_seconds() + 0.999))) if until else None


def device_key(device: str) -> str:
    """The throttle row of one browser this user signed in from before (a device cookie's nonce)."""
    return "device:" + hashlib.sha256(device.encode()).hexdigest()


def authenticate(username: str, password: str, address: str, device: str | None = None) -> User:
    """The user, or AccountError for bad credentials, or SignInBlocked while throttled.

    Two counters, both counted atomically in the database: this user name from this address, and this
    address for every name. Five failures are free, then each further one doubles the wait (2 s … 15 min).
    The right password from an address that has not been failing always works, so no one can lock the
    admin out by guessing; a guesser is slowed on every address they use.

    `device` is the nonce of a device cookie this user name was given at an earlier sign-in (checked by the
    caller). Such a browser has a counter of its own instead of the address's: a guesser who shares the
    user's address (everyone behind one proxy or NAT) cannot lock out a browser the user has signed in
    from before, and a stolen device cookie used to guess is slowed like any other.
    """
    now = utcnow()
    if device:
        gate, counted = device_key(device), [device_key(device)]
    else:
        gate, counted = throttle_key(username, address), [throttle_key(username, address), address_key(address)]
    if (blocked := _blocked(counted, now)) is not None:
        raise blocked
    # The attempt is counted as a failure before the password is checked: that count is the gate.
    if not _count_failure(gate, now, unless_blocked=True):
        raise _blocked([gate], now) or SignInBlocked(1)
    user = get_user(username)
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    if not ok:
        for key in counted[1:]:
            _count_failure(key, now, unless_blocked=False)
        raise AccountError("Wrong user name or password.")
    # Success forgets this name's failures from this address (or browser). The address's count stays (it
    # decays after FORGET_AFTER): a guesser with an account of their own must not be able to wipe it.
    db.session.execute(delete(SignInThrottle).where(SignInThrottle.key == gate))
    db.session.commit()
    return user


# ---- API keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str

    @property
    def encoded(self) -> str:
        """What goes after `Authorization: ApiKey ` — base64 of "id:key", as Kibana's API keys."""
        return base64.b64encode(f"{self.key.id}:{self.secret}".encode()).decode()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(name: str, role: str, created_by: int | None) -> NewApiKey:
    name = name.strip()
    if not name or len(name) > USERNAME_MAX:
        raise AccountError(f"name must be 1-{USERNAME_MAX} characters")
    _check_role(role)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=secrets.token_hex(8), name=name, role=role, key_hash=_digest(secret), created_by=created_by)
    db.session.add(key)
    db.session.commit()
    return NewApiKey(key, secret)


# A new key travels from the POST to the page that shows it (POST-redirect-GET) encrypted in the
# session cookie, for a few minutes and one showing: it is never stored on the server.
SHOW_ONCE_OWNER = "api-key-shown-once"
SHOW_ONCE_SECONDS = 300


def seal_for_showing(new: NewApiKey) -> str:
    return keyring().encrypt(SHOW_ONCE_OWNER, {"id": new.key.id, "secret": new.secret})


def open_for_showing(sealed: str | None) -> NewApiKey | None:
    """The new key sealed by `seal_for_showing`, or None when absent, expired, tampered with or revoked."""
    if not sealed:
        return None
    try:
        opened = keyring().decrypt(SHOW_ONCE_OWNER, sealed, ttl=SHOW_ONCE_SECONDS)
    except SecretsUnreadable:
        return None
    key = db.session.get(ApiKey, opened.get("id"))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _digest(opened["secret"])):
        return None
    return NewApiKey(key, opened["secret"])


def list_api_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())))


def revoke_api_key(key_id: str) -> ApiKey | None:
    key = db.session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    return key


@dataclass(frozen=True)
class VerifiedKey:
    id: str
    name: str
    role: str


_API_KEY_ROW = (
    select(ApiKey.__table__.c.key_hash, ApiKey.__table__.c.revoked_at, ApiKey.__table__.c.last_used_at,
           ApiKey.__table__.c.name, ApiKey.__table__.c.role)
    .where(ApiKey.__table__.c.id == bindparam("id"))
)
_API_KEY_USED = ApiKey.__table__.update().where(ApiKey.__table__.c.id == bindparam("key_id")).values(
    last_used_at=bindparam("used_at"))


def verify_api_key(encoded: str) -> VerifiedKey | None:
    """The live key for a base64 "id:key" value, or None.

    Every API call asks this, so it is one prepared Core SELECT (app.db.core_connection), not an ORM load.
    """
    try:
        key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not key_id:
        return None
    conn = core_connection()
    row = conn.execute(_API_KEY_ROW, {"id": key_id}).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _digest(secret)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=1):
        conn.execute(_API_KEY_USED, {"key_id": key_id, "used_at": now})  # at most one write a minute per key
        core_commit(conn)
    return VerifiedKey(key_id, row.name, row.role)
