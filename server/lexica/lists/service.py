"""Word lists: who may read and change one, writes conditional on its version, words checked against the dictionary."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from lexica._generated.events import ListChange, ListChanged
from lexica._generated.models import ListExportLine
from lexica.lists.repository import (
    MAX_LISTS_PER_USER,
    MAX_WORDS_PER_LIST,
    ListDetails,
    ListFull,
    ListRecord,
    ListRepository,
    ListWord,
    WordsAdded,
)
from lexica.platform.clock import utc_now
from lexica.platform.etags import parse_if_match
from lexica.platform.event_messages import PENDING_ID, announce
from lexica.platform.events import Publisher
from lexica.platform.pagination import CursorCodec, Keyset
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.reply import Serialised
from lexica.platform.security import Principal
from lexica.words.keys import lookup_key
from lexica.words.repository import WordRepository
from lexica.words.service import WordService

_ETAG = re.compile(r'^"list-(\d{1,18})"$')
_EXPORT_BATCH = 500
_ANY_VERSION_ATTEMPTS = 5
T = TypeVar("T")


def new_list_id() -> str:
    """32 hex digits: 48 bits of milliseconds then 80 random bits, so ids sort by creation time.

    (The layout of a UUIDv7 without its version bits; Python 3.11's `uuid` has no uuid7, and a dependency for
    twelve lines is not worth it.)
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def list_etag(record: ListRecord) -> str:
    return f'"list-{record.version}"'


@dataclass(frozen=True, slots=True)
class WordsPage:
    words: list[ListWord]
    next_cursor: str | None


def _not_found(list_id: str) -> ProblemError:
    return ProblemError(404, f"No word list {list_id!r}.")


def _stale(record: ListRecord) -> ProblemError:
    return ProblemError(
        412,
        f"The list {record.name!r} changed since the ETag you sent; GET it again and reapply your change.",
        slug="precondition-failed",
        title="Precondition Failed",
    )


def _versions(if_match: str | None) -> set[int] | None:
    """The list versions `If-Match` accepts (None: any, for `*`); 428 without the header."""
    if if_match is None:
        raise ProblemError(
            428,
            "Send If-Match with the list's current ETag (GET it first) so concurrent changes cannot be lost.",
            slug="precondition-required",
            title="Precondition Required",
        )
    tags = parse_if_match(if_match)
    if tags is None:
        return None
    return {int(match.group(1)) for tag in tags if (match := _ETAG.match(tag))}


class ListService:
    def __init__(
        self,
        lists: ListRepository,
        words: WordRepository,
        entries: WordService,
        cursors: CursorCodec,
        events: Publisher | None = None,
    ) -> None:
        self._lists = lists
        self._words = words
        self._entries = entries
        self._cursors = cursors
        self._events = events

    async def _announce(self, list_id: str, change: ListChange, version: int | None) -> None:
        """`list.changed` on the list's topic (AsyncAPI), for WebSocket subscribers on every instance."""
        if self._events is None:
            return
        message = ListChanged(
            type="list.changed",
            topic=f"list:{list_id}",
            event_id=PENDING_ID,
            list_id=list_id,
            version=version,
            change=change,
            occurred_at=utc_now(),
        )
        await announce(self._events, message)

    # --- reading -----------------------------------------------------------------------------------------------

    async def record(self, list_id: str) -> ListRecord | None:
        """The list whoever asks (for jobs that checked access when they were started)."""
        return await self._lists.get_list(list_id)

    async def readable(self, list_id: str, principal: Principal | None) -> ListRecord:
        """The list if the caller may read it: its owner, or anyone when it is public. Others get 404."""
        record = await self._lists.get_list(list_id)
        if record is None or not (record.public or (principal is not None and principal.user_id == record.owner_id)):
            raise _not_found(list_id)
        return record

    async def _owned(self, list_id: str, principal: Principal) -> ListRecord:
        record = await self.readable(list_id, principal)
        if record.owner_id != principal.user_id:
            raise ProblemError(403, "Only the list's owner may change it.", slug="forbidden", title="Forbidden")
        return record

    async def lists_of(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> tuple[list[ListRecord], str | None]:
        page = await Keyset(self._cursors, f"lists:{principal.user_id}").read(
            cursor,
            limit,
            lambda after, count: self._lists.lists_of(principal.user_id, after=after, limit=count),
            lambda row: row.id,
        )
        return page.rows, page.next_cursor

    async def everything_of(self, principal: Principal) -> list[tuple[ListRecord, list[str]]]:
        """Every list of the caller with all its headwords (the account export)."""
        found: list[tuple[ListRecord, list[str]]] = []
        after: str | None = None
        while records := await self._lists.lists_of(principal.user_id, after=after, limit=100):
            for record in records:
                headwords: list[str] = []
                last: str | None = None
                while words := await self._lists.list_words(record.id, after=last, limit=_EXPORT_BATCH):
                    headwords.extend(word.headword for word in words)
                    last = words[-1].key
                found.append((record, headwords))
            after = records[-1].id
        return found

    async def words_page(self, record: ListRecord, *, limit: int, cursor: str | None) -> WordsPage:
        page = await Keyset(self._cursors, f"list-words:{record.id}").read(
            cursor,
            limit,
            lambda after, count: self._lists.list_words(record.id, after=after, limit=count),
            lambda row: row.key,
        )
        return WordsPage(words=page.rows, next_cursor=page.next_cursor)

    async def export(self, record: ListRecord) -> AsyncIterator[Serialised[ListExportLine]]:
        """Every word of the list with its current entry, one line each, read in batches (never the whole list)."""
        after: str | None = None
        while True:
            batch = await self._lists.list_words(record.id, after=after, limit=_EXPORT_BATCH)
            for word in batch:
                view = await self._entries.entry(word.key)
                entry = view.body.data if view is not None else b"null"
                head = json.dumps({"headword": word.headword, "added_at": word.added_at.isoformat()})
                # The entry's bytes are cached already serialised; splice them in rather than parse and re-encode.
                yield Serialised(head[:-1].encode() + b', "entry": ' + entry + b"}")
            if len(batch) < _EXPORT_BATCH:
                return
            after = batch[-1].key

    # --- writing -----------------------------------------------------------------------------------------------

    async def create(self, principal: Principal, *, name: str, description: str | None, public: bool) -> ListRecord:
        held = await self._lists.lists_of(principal.user_id, after=None, limit=MAX_LISTS_PER_USER)
        if len(held) >= MAX_LISTS_PER_USER:
            raise ProblemError(
                409,
                f"You hold {MAX_LISTS_PER_USER} word lists, the most an account may; delete one to create another.",
                slug="list-limit-reached",
                title="List Limit Reached",
            )
        now = utc_now()
        record = ListRecord(
            id=new_list_id(),
            owner_id=principal.user_id,
            name=name.strip(),
            description=description,
            public=public,
            version=1,
            word_count=0,
            created_at=now,
            updated_at=now,
        )
        await self._lists.create_list(record)
        await self._announce(record.id, ListChange.CREATED, record.version)
        return record

    async def _conditional(
        self,
        list_id: str,
        principal: Principal,
        if_match: str | None,
        write: Callable[[ListRecord], Awaitable[T | None]],
    ) -> T:
        """Run `write` against the version `If-Match` names; the write itself re-checks that version atomically.

        A write that finds the list changed (or gone) looks again: with a named version that answers 412 (or 404);
        with `If-Match: *`, which asks only that the list exists, the write is tried again on the new version.
        """
        versions = _versions(if_match)
        for _ in range(_ANY_VERSION_ATTEMPTS):
            record = await self._owned(list_id, principal)
            if versions is not None and record.version not in versions:
                raise _stale(record)
            result = await write(record)
            if result is not None:
                return result
        raise ProblemError(
            409, "The list is changing too fast to apply `If-Match: *`; retry.", slug="conflict", title="Conflict"
        )

    async def update(
        self,
        list_id: str,
        principal: Principal,
        if_match: str | None,
        *,
        name: str | None,
        description: str | None,
        description_given: bool,
        public: bool | None,
    ) -> ListRecord:
        async def write(record: ListRecord) -> ListRecord | None:
            details = ListDetails(
                name=name.strip() if name is not None else record.name,
                description=description if description_given else record.description,
                public=public if public is not None else record.public,
            )
            if details == ListDetails(record.name, record.description, record.public):
                return record  # nothing changes: no new version
            return await self._lists.update_list_if(record.id, record.version, details, utc_now())

        updated = await self._conditional(list_id, principal, if_match, write)
        await self._announce(updated.id, ListChange.UPDATED, updated.version)
        return updated

    async def delete(self, list_id: str, principal: Principal, if_match: str | None) -> None:
        async def write(record: ListRecord) -> bool | None:
            return True if await self._lists.delete_list_if(record.id, record.version) else None

        await self._conditional(list_id, principal, if_match, write)
        await self._announce(list_id, ListChange.DELETED, None)

    async def add_words(
        self, list_id: str, principal: Principal, if_match: str | None, headwords: list[str]
    ) -> WordsAdded:
        keys = [lookup_key(headword) for headword in headwords]
        for index, key in enumerate(keys):
            if not key:
                message = "The headword is empty."
                raise validation_problem(message, field_error(["body", "headwords", index], message, "empty"))
        await self._owned(list_id, principal)  # 404/403 before telling the caller anything about the words
        known = await self._words.headwords_of(list(dict.fromkeys(keys)))
        unknown = [index for index, key in enumerate(keys) if key not in known]
        if unknown:
            raise validation_problem(
                f"{len(unknown)} headword(s) are not in the dictionary; nothing was added.",
                *(
                    field_error(
                        ["body", "headwords", index],
                        f"No entry for the headword {headwords[index]!r}.",
                        "unknown_headword",
                    )
                    for index in unknown
                ),
            )
        now = utc_now()
        words = [ListWord(key=key, headword=known[key], added_at=now) for key in dict.fromkeys(keys)]

        async def write(record: ListRecord) -> WordsAdded | None:
            try:
                return await self._lists.add_words_if(record.id, record.version, words, now)
            except ListFull:
                raise ProblemError(
                    409,
                    f"A list holds at most {MAX_WORDS_PER_LIST} words; remove some first.",
                    slug="list-full",
                    title="List Full",
                ) from None

        added = await self._conditional(list_id, principal, if_match, write)
        if added.added:
            await self._announce(list_id, ListChange.WORDS_ADDED, added.list.version)
        return added

    async def remove_word(self, list_id: str, principal: Principal, if_match: str | None, headword: str) -> ListRecord:
        key = lookup_key(headword)

        async def write(record: ListRecord) -> ListRecord | None:
            removed = await self._lists.remove_word_if(record.id, record.version, key, utc_now())
            if removed is None:
                return None
            if not removed.removed:
                raise ProblemError(404, f"The list {record.name!r} does not contain {headword!r}.")
            return removed.list

        record = await self._conditional(list_id, principal, if_match, write)
        await self._announce(list_id, ListChange.WORD_REMOVED, record.version)
        return record
