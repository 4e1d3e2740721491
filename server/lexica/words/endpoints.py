"""`WordsApi` implementation: HTTP concerns (ETags, caching headers, links) over `WordService`."""

from __future__ import annotations

from urllib.parse import urlencode

from lexica._generated import models
from lexica._generated.interfaces import WordsApi
from lexica.platform.etags import if_none_match_matches
from lexica.platform.pagination import next_page_link
from lexica.platform.problems import ProblemError, field_error, validation_problem
from lexica.platform.reply import Reply
from lexica.platform.security import Principal
from lexica.words.hrefs import WORDS_PATH, entry_href, related_href
from lexica.words.related import Linked
from lexica.words.search_index import Method
from lexica.words.service import EntryView, WordService

SUGGESTIONS = 5  # headwords a 404 of getEntry suggests, at most (the spec's maxItems)


def wants_fresh(cache_control: str) -> bool:
    """Whether request directives forbid answering from a cache without revalidation (RFC 9111 5.2.1)."""
    directives = {part.strip().lower().replace(" ", "") for part in cache_control.split(",")}
    return "no-cache" in directives or "no-store" in directives or "max-age=0" in directives


class WordsEndpoints(WordsApi):
    def __init__(self, service: WordService, *, entry_max_age: int) -> None:
        self._service = service
        self._entry_cache_control = f"public, max-age={entry_max_age}"

    @property
    def service(self) -> WordService:
        return self._service

    def entry_headers(self, view: EntryView) -> dict[str, str]:
        """The headers of a `getEntry` answer (200 or 304) besides those every response gets."""
        return {"ETag": view.etag, "Cache-Control": self._entry_cache_control}

    async def get_entry(
        self, *, headword: str, if_none_match: str | None, cache_control: str | None
    ) -> Reply[models.Entry]:
        view = await self._service.entry(headword, fresh=cache_control is not None and wants_fresh(cache_control))
        if view is None:
            raise self._not_found(headword)
        headers = self.entry_headers(view)
        if if_none_match is not None and if_none_match_matches(if_none_match, view.etag):
            return Reply.empty(304, headers)
        return Reply(view.body, headers=headers)

    def _not_found(self, headword: str) -> ProblemError:
        """The 404 with the headwords that are there and spelt or begun like the one asked for (the search box's
        ranking: completions and close spellings, commoner words first)."""
        hits = [hit for hit in self._service.search(headword, "auto", SUGGESTIONS + 1) if hit.method != Method.EXACT]
        suggestions = [{"headword": hit.headword, "href": entry_href(hit.headword)} for hit in hits[:SUGGESTIONS]]
        detail = f"No entry for the headword {headword!r}."
        return ProblemError(
            404, detail, slug="entry-not-found", title="Entry Not Found", extra={"suggestions": suggestions}
        )

    async def create_entry(self, *, principal: Principal, body: models.EntryInput) -> Reply[models.Entry]:
        view = await self._service.create_entry(body.headword, body.parts_of_speech)
        headers = {"ETag": view.etag, "Location": entry_href(" ".join(body.headword.split()))}
        return Reply(view.body, status=201, headers=headers)

    async def replace_entry(
        self, *, principal: Principal, body: models.EntryInput, headword: str, if_match: str | None
    ) -> Reply[models.Entry]:
        view = await self._service.replace_entry(headword, if_match, body.headword, body.parts_of_speech)
        return Reply(view.body, headers={"ETag": view.etag})

    async def patch_entry(
        self, *, principal: Principal, body: models.EntryPatch, headword: str, if_match: str | None
    ) -> Reply[models.Entry]:
        if "parts_of_speech" in body.model_fields_set and body.parts_of_speech is None:
            # In a merge patch null removes a member; an entry cannot be without its parts of speech.
            raise validation_problem(
                "`parts_of_speech` cannot be removed; send the new list instead.",
                field_error(["body", "parts_of_speech"], "May not be null.", "null"),
            )
        view = await self._service.patch_entry(headword, if_match, body.parts_of_speech)
        return Reply(view.body, headers={"ETag": view.etag})

    async def delete_entry(self, *, principal: Principal, headword: str, if_match: str | None) -> Reply[None]:
        await self._service.delete_entry(headword, if_match)
        return Reply.empty(204)

    async def get_related_entries(
        self, *, headword: str, limit: int, cursor: str | None
    ) -> Reply[models.RelatedEntries]:
        page = await self._service.related(headword, limit=limit, cursor=cursor)
        if page is None:
            raise self._not_found(headword)
        body = models.RelatedEntries(
            headword=page.headword,
            href=entry_href(page.headword),
            links_to=[_related(linked) for linked in page.links_to],
            linked_from=[_related(linked) for linked in page.linked_from],
            next_cursor=page.next_cursor,
            links=models.PageLinks(next=next_page_link(related_href(page.headword), limit, page.next_cursor)),
        )
        return Reply(body, headers={"Cache-Control": "public, max-age=60"})

    async def list_words(self, *, prefix: str | None, limit: int, cursor: str | None) -> Reply[models.HeadwordPage]:
        page = await self._service.headwords(prefix=prefix, limit=limit, cursor=cursor)
        next_link = None
        if page.next_cursor is not None:
            query = {"limit": str(limit), "cursor": page.next_cursor}
            if prefix:
                query = {"prefix": prefix, **query}
            next_link = f"{WORDS_PATH}?{urlencode(query)}"
        body = models.HeadwordPage(
            items=[models.HeadwordItem(headword=row.headword, href=entry_href(row.headword)) for row in page.rows],
            next_cursor=page.next_cursor,
            links=models.PageLinks(next=next_link),
        )
        return Reply(body, headers={"Cache-Control": "public, max-age=60"})

    async def search_words(self, *, q: str, mode: models.SearchMode, limit: int) -> Reply[models.SearchResults]:
        hits = await self._service.find(q, mode.value, limit)
        body = models.SearchResults(
            query=q,
            mode=mode,
            items=[
                models.SearchHit(
                    headword=hit.headword,
                    score=hit.score,
                    method=models.MatchMethod(hit.method.value),
                    href=entry_href(hit.headword),
                    snippet=hit.snippet,
                )
                for hit in hits
            ],
        )
        return Reply(body, headers={"Cache-Control": "public, max-age=60"})


def _related(linked: Linked) -> models.RelatedEntry:
    return models.RelatedEntry(headword=linked.headword, href=entry_href(linked.headword), kinds=list(linked.kinds))
