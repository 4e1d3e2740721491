"""`ListsApi` implementation: HTTP concerns (ETags, links, merge-patch nulls, streaming) over `ListService`."""

from __future__ import annotations

from pydantic import BaseModel

from lexica._generated import models
from lexica._generated.interfaces import ListsApi
from lexica.lists.repository import ListRecord
from lexica.lists.service import ListService, list_etag
from lexica.platform.etags import if_none_match_matches
from lexica.platform.pagination import next_page_link
from lexica.platform.problems import field_error, validation_problem
from lexica.platform.reply import Reply, Streamed
from lexica.platform.security import Principal
from lexica.words.hrefs import entry_href

LISTS_PATH = "/api/v1/lists"
PRIVATE_NO_STORE = {"Cache-Control": "private, no-store"}


def list_href(list_id: str) -> str:
    return f"{LISTS_PATH}/{list_id}"


def list_model(record: ListRecord) -> models.WordList:
    return models.WordList(
        id=record.id,
        name=record.name,
        description=record.description,
        visibility=models.Visibility.PUBLIC if record.public else models.Visibility.PRIVATE,
        version=record.version,
        word_count=record.word_count,
        created_at=record.created_at,
        updated_at=record.updated_at,
        href=list_href(record.id),
    )


def _reject_nulls(body: BaseModel, *names: str) -> None:
    """In a JSON body, `null` for a member the schema does not let be null is a 422 (the models admit None)."""
    for name in names:
        if name in body.model_fields_set and getattr(body, name) is None:
            message = f"`{name}` may not be null."
            raise validation_problem(message, field_error(["body", name], message, "null"))


class ListsEndpoints(ListsApi):
    def __init__(self, service: ListService) -> None:
        self._service = service

    async def list_my_lists(
        self, *, principal: Principal, limit: int, cursor: str | None
    ) -> Reply[models.WordListPage]:
        records, next_cursor = await self._service.lists_of(principal, limit=limit, cursor=cursor)
        body = models.WordListPage(
            items=[list_model(record) for record in records],
            next_cursor=next_cursor,
            links=models.PageLinks(next=next_page_link(LISTS_PATH, limit, next_cursor)),
        )
        return Reply(body, headers=PRIVATE_NO_STORE)

    async def create_list(self, *, principal: Principal, body: models.WordListInput) -> Reply[models.WordList]:
        _reject_nulls(body, "visibility")
        record = await self._service.create(
            principal,
            name=body.name,
            description=body.description,
            public=body.visibility == models.Visibility.PUBLIC,
        )
        headers = {"Location": list_href(record.id), "ETag": list_etag(record)}
        return Reply(list_model(record), status=201, headers=headers)

    async def get_list(
        self,
        *,
        principal: Principal | None,
        list_id: str,
        limit: int,
        cursor: str | None,
        if_none_match: str | None,
    ) -> Reply[models.WordListWithWords]:
        record = await self._service.readable(list_id, principal)
        headers = {"ETag": list_etag(record), "Cache-Control": "private, no-cache"}
        if if_none_match is not None and if_none_match_matches(if_none_match, headers["ETag"]):
            return Reply.empty(304, {"ETag": headers["ETag"]})
        page = await self._service.words_page(record, limit=limit, cursor=cursor)
        body = models.WordListWithWords(
            list=list_model(record),
            words=models.ListWordPage(
                items=[
                    models.ListWordItem(headword=word.headword, added_at=word.added_at, href=entry_href(word.headword))
                    for word in page.words
                ],
                next_cursor=page.next_cursor,
                links=models.PageLinks(next=next_page_link(list_href(record.id), limit, page.next_cursor)),
            ),
        )
        return Reply(body, headers=headers)

    async def update_list(
        self, *, principal: Principal, body: models.WordListPatch, list_id: str, if_match: str | None
    ) -> Reply[models.WordList]:
        _reject_nulls(body, "name", "visibility")
        record = await self._service.update(
            list_id,
            principal,
            if_match,
            name=body.name,
            description=body.description,
            description_given="description" in body.model_fields_set,
            public=None if body.visibility is None else body.visibility == models.Visibility.PUBLIC,
        )
        return Reply(list_model(record), headers={"ETag": list_etag(record)})

    async def delete_list(self, *, principal: Principal, list_id: str, if_match: str | None) -> Reply[None]:
        await self._service.delete(list_id, principal, if_match)
        return Reply.empty(204)

    async def add_list_words(
        self, *, principal: Principal, body: models.ListWordsInput, list_id: str, if_match: str | None
    ) -> Reply[models.ListWordsAdded]:
        result = await self._service.add_words(list_id, principal, if_match, [item.root for item in body.headwords])
        reply = models.ListWordsAdded(list=list_model(result.list), added=result.added)
        return Reply(reply, headers={"ETag": list_etag(result.list)})

    async def remove_list_word(
        self, *, principal: Principal, list_id: str, headword: str, if_match: str | None
    ) -> Reply[models.WordList]:
        record = await self._service.remove_word(list_id, principal, if_match, headword)
        return Reply(list_model(record), headers={"ETag": list_etag(record)})

    async def export_list(self, *, principal: Principal | None, list_id: str) -> Reply[models.ListExportLine]:
        record = await self._service.readable(list_id, principal)
        headers = {"Content-Disposition": f'attachment; filename="word-list-{record.id}.ndjson"'}
        return Reply(Streamed(self._service.export(record)), headers=headers)
