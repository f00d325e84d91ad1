"""Keyset paging: a page starts after the sort key of the last row shown (or ends before the first), so
the database seeks into an index instead of walking every row before the page as OFFSET does.

A page link carries the key as an opaque `after` / `before` cursor, plus the page number for "page N of
M". A bare `page=N` (a typed or old link) still works, by OFFSET; so does a link whose cursor cannot be
read, which is ignored as any other query value not understood.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, tuple_

from app.db import db

MAX_CURSOR_CHARS = 2000  # a sort key is a name (255 characters at most) and an id; far below this


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(token: str, arity: int) -> list | None:
    """The key values in `token`, or None when it is not a cursor for a key of `arity` plain values."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(values, list) or len(values) != arity:
        return None
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        return None
    return values


@dataclass
class Request:
    """Where the asked-for page is: after a cursor, before one, or at a page number (OFFSET)."""

    page: int = 1
    after: str = ""
    before: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Request:
        try:
            page = int(args.get("page", 1))
        except ValueError:
            page = 1
        return cls(page=page, after=args.get("after", "")[:MAX_CURSOR_CHARS], before=args.get("before", "")[:MAX_CURSOR_CHARS])


@dataclass
class Page:
    rows: list
    total: int
    page: int
    pages: int
    next_cursor: str | None = None  # set when there is a next page
    prev_cursor: str | None = None  # set when there is a previous page
    extra: dict = field(default_factory=dict)

    def next_args(self) -> dict[str, Any]:
        return {"page": self.page + 1, "after": self.next_cursor, "before": None}

    def prev_args(self) -> dict[str, Any]:
        return {"page": self.page - 1, "before": self.prev_cursor, "after": None}


def fetch(query: Select, keys: Sequence, *, descending: bool, want: Request, size: int,
          count: Callable[[], int]) -> Page:
    """One page of `query` in the order of `keys` (unique together: the last is the row's id).

    `query` selects the rows' entity; the keys are added to it to make the cursors. The first key is
    also bounded on its own: SQLite seeks an index on it, not on the row-value comparison. `count` gives
    the number of rows for "page N of M"; a first page that is not full is all there is, and needs none.
    """
    arity = len(keys)
    after, before = decode_cursor(want.after, arity), decode_cursor(want.before, arity)
    query = query.add_columns(*keys)
    row_key = tuple_(*keys)
    if before is not None:  # walk backwards from the cursor, then turn the rows round
        order = [k.asc() if descending else k.desc() for k in keys]
        bound = (keys[0] >= before[0]) & (row_key > tuple_(*before)) if descending else \
            (keys[0] <= before[0]) & (row_key < tuple_(*before))
        found = list(reversed(_rows(query.where(bound).order_by(*order).limit(size + 1))))
        if len(found) > size:
            total = count()
            page = _clamp(want.page, 2, total, size)
            return _page(found[-size:], total, page, size, arity, more_before=True, more_after=True)
        want, after = Request(page=1), None  # back at the start (rows before it may have gone): page 1 as it is now
    order = [k.desc() if descending else k.asc() for k in keys]
    if after is not None:
        bound = (keys[0] <= after[0]) & (row_key < tuple_(*after)) if descending else \
            (keys[0] >= after[0]) & (row_key > tuple_(*after))
        found = _rows(query.where(bound).order_by(*order).limit(size + 1))
        total = count()
        return _page(found[:size], total, _clamp(want.page, 2, total, size), size, arity, more_before=True,
                     more_after=len(found) > size)
    total = count() if want.page > 1 else None  # a page number beyond the last shows the last
    page = 1 if total is None else _clamp(want.page, 1, total, size)
    found = _rows(query.order_by(*order).offset((page - 1) * size).limit(size + 1))
    if total is None:
        total = count() if len(found) > size else len(found)
    return _page(found[:size], total, page, size, arity, more_before=page > 1, more_after=len(found) > size)


def _clamp(page: int, lowest: int, total: int, size: int) -> int:
    return max(min(page, max(1, -(-total // size))), lowest)


def _rows(query: Select) -> list:
    return list(db.session.execute(query))


def _page(found: list, total: int, page: int, size: int, arity: int, more_before: bool, more_after: bool) -> Page:
    rows = [r[0] for r in found]
    keys = [tuple(r[-arity:]) for r in found]
    return Page(
        rows, total, page, max(1, -(-total // size), page),
        next_cursor=encode_cursor(keys[-1]) if more_after and keys else None,
        prev_cursor=encode_cursor(keys[0]) if more_before and keys else None,
    )
