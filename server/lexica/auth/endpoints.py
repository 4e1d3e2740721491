"""Implementations of the `auth`, `users` and `admin` interfaces over the auth services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from fastapi import Request, Response

from lexica._generated import models
from lexica._generated.interfaces import AdminApi, AuthApi, UsersApi
from lexica.auth.account import AccountService
from lexica.auth.registration import Registration
from lexica.auth.repository import ApiKeyRecord, AuditRecord, UserRecord
from lexica.auth.sessions import IssuedTokens, Sessions, invalid_grant
from lexica.lists.endpoints import list_model
from lexica.lists.service import ListService
from lexica.platform.pagination import CursorCodec, Keyset, next_page_link
from lexica.platform.problems import instance_of, problem_response
from lexica.platform.reply import Reply
from lexica.platform.security import Principal, Role

NO_STORE = {"Cache-Control": "no-store"}
PRIVATE = {"Cache-Control": "private, no-store"}


def user_model(user: UserRecord) -> models.User:
    return models.User(
        id=UUID(user.id),
        email=user.email,
        display_name=user.display_name,
        role=models.Role(user.role),
        mfa_enabled=user.totp_confirmed,
        created_at=user.created_at,
    )


def api_key_model(key: ApiKeyRecord) -> models.ApiKey:
    return models.ApiKey(
        id=UUID(key.id),
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
    )


def audit_model(event: AuditRecord) -> models.AuditEvent:
    return models.AuditEvent(
        id=event.id,
        occurred_at=event.occurred_at,
        action=models.AuditAction(event.action),
        actor_id=event.actor_id,
        subject_id=event.subject_id,
        client_ip=event.client_ip,
        detail=event.detail,
    )


def _token_pair(tokens: IssuedTokens) -> Reply[models.TokenPair]:
    body = models.TokenPair(
        access_token=tokens.access_token,
        token_type="bearer",  # noqa: S106 - the OAuth 2.0 token type, not a secret
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )
    return Reply(body, headers=NO_STORE)


def oauth_validation_problem(request: Request, errors: Sequence[Mapping[str, Any]]) -> Response:
    """Token requests that fail validation answer as RFC 6749 section 5.2 says, in problem+json."""
    grant_type_errors = [e for e in errors if tuple(e.get("loc", ()))[-1:] == ("grant_type",)]
    if grant_type_errors and grant_type_errors[0].get("type") == "enum":
        error, detail = "unsupported_grant_type", "Use grant_type `password` or `refresh_token`."
    else:
        fields = ", ".join(str(tuple(e.get("loc", ("body",)))[-1]) for e in errors)
        error, detail = "invalid_request", f"The token request is malformed: check {fields}."
    problem = invalid_grant(detail, error=error)
    return problem_response(
        400, problem.title, detail, type_=problem.type, instance=instance_of(request), extra={"error": error}
    )


class AuthEndpoints(AuthApi):
    def __init__(self, registration: Registration, sessions: Sessions) -> None:
        self._registration = registration
        self._sessions = sessions

    async def register_user(self, *, body: models.Registration) -> Reply[models.User]:
        user = await self._registration.register(body.email, body.password.get_secret_value(), body.display_name)
        return Reply(user_model(user), status=201, headers={"Location": "/api/v1/users/me"})

    async def issue_token(self, *, body: models.TokenRequest) -> Reply[models.TokenPair]:
        if body.grant_type is models.GrantType.PASSWORD:
            password = body.password.get_secret_value() if body.password else None
            return _token_pair(await self._sessions.login(body.username, password, body.otp))
        if body.grant_type is models.GrantType.REFRESH_TOKEN:
            return _token_pair(await self._sessions.refresh(body.refresh_token))
        raise invalid_grant("Unsupported grant type.", error="unsupported_grant_type")

    async def logout(self, *, body: models.RefreshTokenBody) -> Reply[None]:
        await self._sessions.logout(body.refresh_token)
        return Reply.empty(204)


class UsersEndpoints(UsersApi):
    def __init__(self, account: AccountService, cursors: CursorCodec, lists: ListService) -> None:
        self._account = account
        self._cursors = cursors
        self._lists = lists

    async def get_current_user(self, *, principal: Principal) -> Reply[models.User]:
        return Reply(user_model(await self._account.user(principal)), headers=PRIVATE)

    async def delete_current_user(self, *, principal: Principal) -> Reply[None]:
        await self._account.delete(principal)
        return Reply.empty(204)

    async def export_current_user(self, *, principal: Principal) -> Reply[models.UserExport]:
        export = await self._account.export(principal)
        body = models.UserExport(
            user=user_model(export.user),
            api_keys=[api_key_model(key) for key in export.api_keys],
            audit_events=[audit_model(event) for event in export.audit_events],
            word_lists=[
                models.WordListExport(list=list_model(record), headwords=headwords)
                for record, headwords in await self._lists.everything_of(principal)
            ],
        )
        return Reply(body, headers=PRIVATE)

    async def list_api_keys(self, *, principal: Principal, limit: int, cursor: str | None) -> Reply[models.ApiKeyPage]:
        page = await Keyset(self._cursors, f"api-keys:{principal.user_id}").read(
            cursor,
            limit,
            lambda before, count: self._account.api_keys(principal, before=before, limit=count),
            lambda key: key.id,
        )
        body = models.ApiKeyPage(
            items=[api_key_model(key) for key in page.rows],
            next_cursor=page.next_cursor,
            links=models.PageLinks(next=next_page_link("/api/v1/users/me/api-keys", limit, page.next_cursor)),
        )
        return Reply(body, headers=PRIVATE)

    async def create_api_key(self, *, principal: Principal, body: models.ApiKeyRequest) -> Reply[models.ApiKeyCreated]:
        record, key = await self._account.create_api_key(principal, body.name, body.expires_at)
        created = models.ApiKeyCreated(**api_key_model(record).model_dump(), key=key)
        return Reply(created, status=201, headers=NO_STORE)

    async def revoke_api_key(self, *, principal: Principal, key_id: UUID) -> Reply[None]:
        await self._account.revoke_api_key(principal, str(key_id))
        return Reply.empty(204)

    async def enrol_totp(self, *, principal: Principal) -> Reply[models.TotpEnrolment]:
        secret, uri = await self._account.enrol_totp(principal)
        return Reply(models.TotpEnrolment(secret=secret, otpauth_uri=uri), status=201, headers=NO_STORE)

    async def confirm_totp(self, *, principal: Principal, body: models.TotpCode) -> Reply[models.RecoveryCodes]:
        codes = await self._account.confirm_totp(principal, body.code)
        return Reply(models.RecoveryCodes(recovery_codes=codes), headers=NO_STORE)

    async def disable_totp(self, *, principal: Principal, body: models.TotpCode) -> Reply[None]:
        await self._account.disable_totp(principal, body.code)
        return Reply.empty(204)


class AdminEndpoints(AdminApi):
    def __init__(self, account: AccountService, cursors: CursorCodec) -> None:
        self._account = account
        self._cursors = cursors

    async def set_user_role(
        self, *, principal: Principal, user_id: UUID, body: models.RoleChange
    ) -> Reply[models.User]:
        user = await self._account.set_role(principal, str(user_id), Role.parse(body.role.value))
        return Reply(user_model(user))

    async def list_audit_events(
        self, *, principal: Principal, limit: int, cursor: str | None
    ) -> Reply[models.AuditEventPage]:
        page = await Keyset(self._cursors, "audit").read(
            cursor,
            limit,
            lambda before, count: self._account.audit_events(
                before=int(before) if before is not None and before.isdigit() else None, limit=count
            ),
            lambda event: str(event.id),
        )
        body = models.AuditEventPage(
            items=[audit_model(event) for event in page.rows],
            next_cursor=page.next_cursor,
            links=models.PageLinks(next=next_page_link("/api/v1/admin/audit-events", limit, page.next_cursor)),
        )
        return Reply(body, headers=PRIVATE)
