"""Every operation of the API through the SDK's public resources, against a real server: typed arguments in,
typed results out (models, `Tagged`, `NotModified`, pages, streams, `None`), no private `_api` import."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pyotp
import pytest
from sdk_helpers import JOBS_ADMIN_EMAIL, PASSWORD, entry_json

from lexica_client import (
    AsyncLexica,
    BadRequestError,
    Lexica,
    NotFoundError,
    NotModified,
    Page,
    PreconditionFailedError,
    Tagged,
    UnauthorizedError,
    ValidationError,
)
from lexica_client.events import JobFinished
from lexica_client.models import (
    ApiKeyRequest,
    AuditEventPage,
    Entry,
    EntryPatch,
    ExportRequest,
    ExportRequestSource,
    ImportRequest,
    ImportRequestSource,
    Job,
    ListExportLine,
    ListWordsInput,
    Liveness,
    Readiness,
    RefreshTokenBody,
    Registration,
    Role,
    RoleChange,
    TokenRequest,
    TokenRequestGrantType,
    TotpCode,
    User,
    WordList,
    WordListInput,
    WordListPatch,
)
from lexica_client.resources import OPERATIONS

EXERCISED: set[str] = set()  # operationIds this module called, checked against the spec at the end


def _called(*operation_ids: str) -> None:
    EXERCISED.update(operation_ids)


@pytest.fixture(scope="module")
def admin_lexica(jobs_server: str) -> Iterator[Lexica]:
    with Lexica(jobs_server, timeout=30.0) as lexica:
        lexica.sign_in(JOBS_ADMIN_EMAIL, PASSWORD)
        yield lexica


@pytest.fixture
def reader(jobs_server: str) -> Iterator[tuple[Lexica, User]]:
    """A newly registered user signed in through the resources (register, issue a token)."""
    email = f"sdk-resources-{uuid.uuid4().hex[:12]}@example.com"
    with Lexica(jobs_server) as anonymous:
        user = anonymous.auth.register(Registration(email=email, password=PASSWORD))
        pair = anonymous.auth.issue_token(
            TokenRequest(grant_type=TokenRequestGrantType.PASSWORD, username=email, password=PASSWORD)
        )
    _called("registerUser", "issueToken")
    with Lexica(jobs_server, access_token=pair.access_token) as lexica:
        yield lexica, user


def test_ops_probes(admin_lexica: Lexica) -> None:
    assert isinstance(admin_lexica.ops.liveness(), Liveness)
    assert isinstance(admin_lexica.ops.readiness(), Readiness)
    metrics = admin_lexica.ops.metrics()
    assert isinstance(metrics, str)
    assert "# TYPE lexica_entry_cache_hits_total counter" in metrics
    _called("getLiveness", "getReadiness", "getMetrics")


def test_entry_reads_carry_etags_and_conditional_reads_are_not_modified(admin_lexica: Lexica) -> None:
    apple = admin_lexica.words.get("apple")
    assert isinstance(apple, Tagged)
    assert isinstance(apple.value, Entry)
    assert admin_lexica.words.get("apple", if_none_match=apple.etag) == NotModified(apple.etag)
    raw = admin_lexica.words.with_raw_response.get("apple")
    assert raw.status_code == 200
    assert raw.etag == apple.etag
    assert raw.request_id
    page = admin_lexica.words.list(prefix="app", limit=2)
    assert isinstance(page, Page)
    assert len(page.items) == 2
    assert page.next_cursor is not None
    walked = [item.headword for item in page]  # every page
    assert walked[:2] == [item.headword for item in page.items]
    assert len(walked) > 2
    assert all(headword.lower().startswith("app") for headword in walked)
    assert admin_lexica.words.search("aple").items
    related = admin_lexica.words.related("apple", limit=1)
    assert (related.headword, related.href) == ("apple", "/api/v1/words/apple")
    assert related.linked_from == [] or related.linked_from[0].kinds
    _called("getEntry", "listWords", "searchWords", "getRelatedEntries")


def test_an_editor_creates_edits_and_deletes_an_entry_with_etags(admin_lexica: Lexica) -> None:
    headword = f"sdk resource {uuid.uuid4().hex[:8]}"
    created = admin_lexica.words.create(entry_json(headword, "First."))
    assert created.value.headword == headword
    replaced = admin_lexica.words.replace(headword, entry_json(headword, "Second."), etag=created.etag)
    assert replaced.value.parts_of_speech[0].definitions[0].text == "Second."
    with pytest.raises(PreconditionFailedError):
        admin_lexica.words.replace(headword, entry_json(headword, "Stale."), etag=created.etag)
    patched = admin_lexica.words.patch(
        headword,
        EntryPatch.from_dict({"parts_of_speech": entry_json(headword, "Third.")["parts_of_speech"]}),
        etag=replaced.etag,
    )
    assert patched.value.version == 3
    admin_lexica.words.delete(headword, etag=patched.etag)
    with pytest.raises(NotFoundError):
        admin_lexica.words.get(headword)
    _called("createEntry", "replaceEntry", "patchEntry", "deleteEntry")


def test_a_word_list_through_its_life(admin_lexica: Lexica) -> None:
    created = admin_lexica.lists.create(WordListInput(name="Resources"))
    assert isinstance(created.value, WordList)
    list_id = created.value.id
    added = admin_lexica.lists.add_words(list_id, ListWordsInput(headwords=["apple", "banana"]), etag=created.etag)
    got = admin_lexica.lists.get(list_id, limit=1)
    assert got.etag == added.etag
    assert admin_lexica.lists.get(list_id, if_none_match=got.etag) == NotModified(got.etag)
    assert list_id in [item.id for item in admin_lexica.lists.list(limit=1)]
    with admin_lexica.lists.export(list_id) as lines:
        exported = list(lines)
    assert all(isinstance(line, ListExportLine) for line in exported)
    assert [line.headword for line in exported] == ["apple", "banana"]
    updated = admin_lexica.lists.update(list_id, WordListPatch(name="Renamed"), etag=got.etag)
    removed = admin_lexica.lists.remove_word(list_id, "banana", etag=updated.etag)
    admin_lexica.lists.delete(list_id, etag=removed.etag)
    _called("createList", "addListWords", "getList", "listMyLists", "exportList", "updateList")
    _called("removeListWord", "deleteList")


def test_jobs_start_follow_download_list_and_cancel(admin_lexica: Lexica) -> None:
    upload = b"".join((__import__("json").dumps(entry_json(f"sdk resource job {n}")) + "\n").encode() for n in range(3))
    started = admin_lexica.jobs.start_import(upload)
    assert isinstance(started, Job)
    # The server ends each event stream after a second (this fixture's setting) and the job's worker process takes
    # about as long to start: follow it as a client should, resuming after the last event seen.
    last_seen: str | None = None
    for _ in range(60):
        with admin_lexica.jobs.stream_events(started.id, last_event_id=last_seen) as events:
            for event in events:
                last_seen = getattr(event, "event_id", None) or last_seen
                if isinstance(event, JobFinished):
                    break
            else:
                continue
        break
    assert admin_lexica.jobs.get(started.id).state.value == "succeeded"
    gcide = admin_lexica.jobs.start_import(ImportRequest(source=ImportRequestSource.GCIDE))
    cancelled = admin_lexica.jobs.cancel(gcide.id)
    assert cancelled.cancel_requested or cancelled.state.value in ("cancelled", "succeeded")
    export = admin_lexica.jobs.start_export(ExportRequest(source=ExportRequestSource.DICTIONARY))
    deadline = time.monotonic() + 30
    while admin_lexica.jobs.get(export.id).state.value != "succeeded":
        assert time.monotonic() < deadline, "the export did not finish in 30 s"
        time.sleep(0.1)
    with admin_lexica.jobs.get_result(export.id) as lines:
        assert any(isinstance(line, Entry) and line.headword == "apple" for line in lines)
    assert export.id in [job.id for job in admin_lexica.jobs.list(limit=2)]
    admin_lexica.jobs.delete(export.id)
    with pytest.raises(NotFoundError):
        admin_lexica.jobs.get(export.id)
    _called(
        "startImport", "streamJobEvents", "getJob", "cancelJob", "startExport", "getJobResult", "listJobs", "deleteJob"
    )


def test_a_user_manages_keys_two_factor_and_its_account(reader: tuple[Lexica, User], jobs_server: str) -> None:
    lexica, user = reader
    assert lexica.users.me().id == user.id
    created = lexica.users.create_api_key(ApiKeyRequest(name="resources"))
    assert created.id in [key.id for key in lexica.users.list_api_keys(limit=1)]
    lexica.users.revoke_api_key(created.id)
    enrolment = lexica.users.enrol_totp()
    totp = pyotp.TOTP(enrolment.secret)
    assert len(lexica.users.confirm_totp(TotpCode(code=totp.now())).recovery_codes) > 0
    assert lexica.users.me().mfa_enabled
    # A fresh code: the next time step's (the server accepts one step either side, and refuses a replay).
    lexica.users.disable_totp(TotpCode(code=totp.at(time.time() + 30)))
    assert not lexica.users.me().mfa_enabled
    assert lexica.users.export_me().user.id == user.id
    lexica.users.delete_me()
    with pytest.raises(UnauthorizedError):
        lexica.users.me()
    _called("getCurrentUser", "createApiKey", "listApiKeys", "revokeApiKey", "enrolTotp", "confirmTotp")
    _called("disableTotp", "exportCurrentUser", "deleteCurrentUser")


def test_logout_revokes_the_refresh_token(jobs_server: str) -> None:
    email = f"sdk-logout-{uuid.uuid4().hex[:12]}@example.com"
    with Lexica(jobs_server) as lexica:
        lexica.auth.register(Registration(email=email, password=PASSWORD))
        pair = lexica.auth.issue_token(
            TokenRequest(grant_type=TokenRequestGrantType.PASSWORD, username=email, password=PASSWORD)
        )
        lexica.auth.logout(RefreshTokenBody(refresh_token=pair.refresh_token))
        with pytest.raises(BadRequestError):
            lexica.auth.issue_token(
                TokenRequest(grant_type=TokenRequestGrantType.REFRESH_TOKEN, refresh_token=pair.refresh_token)
            )
    _called("logout")


def test_an_admin_changes_a_role_and_reads_the_audit_log(admin_lexica: Lexica, reader: tuple[Lexica, User]) -> None:
    _, user = reader
    changed = admin_lexica.admin.set_user_role(user.id, RoleChange(role=Role.EDITOR))
    assert changed.role == Role.EDITOR
    events = admin_lexica.admin.list_audit_events(limit=5)
    assert isinstance(events.model, AuditEventPage)
    assert events.items
    with pytest.raises(ValidationError):
        admin_lexica.admin.set_user_role(user.id, {"role": "emperor"})
    _called("setUserRole", "listAuditEvents")


async def test_the_async_client_has_the_same_resources(jobs_server: str) -> None:
    async with AsyncLexica(jobs_server) as lexica:
        apple = await lexica.words.get("apple")
        assert await lexica.words.get("apple", if_none_match=apple.etag) == NotModified(apple.etag)
        page = await lexica.words.list(prefix="a", limit=3)
        walked = [item.headword async for item in page]
        assert len(walked) > 3
        with pytest.raises(UnauthorizedError):
            await lexica.jobs.get("00000000-0000-0000-0000-000000000000")


def test_every_operation_of_the_spec_was_exercised_here() -> None:
    """Runs last in this module (pytest keeps the file's order): a new operation needs a live test above."""
    assert sorted(set(OPERATIONS) - EXERCISED) == []
