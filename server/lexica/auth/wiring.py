"""The auth services over one `AuthStorage`, built in one place for the app (lexica.state) and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from lexica.auth.account import AccountService
from lexica.auth.audit_log import AuditLog
from lexica.auth.authenticator import RequestAuthenticator
from lexica.auth.registration import Registration
from lexica.auth.repository import AuthStorage
from lexica.auth.second_factor import SecondFactor
from lexica.auth.sessions import Sessions
from lexica.auth.throttle import LoginThrottle
from lexica.auth.tokens import AccessTokens


@dataclass(frozen=True, slots=True)
class AuthServices:
    registration: Registration
    sessions: Sessions  # its `throttled_logins` feeds the metrics
    authenticator: RequestAuthenticator  # what the app authenticates every request with
    account: AccountService


def build_auth_services(
    storage: AuthStorage,
    throttle: LoginThrottle,
    *,
    secret: str,
    access_ttl: timedelta,
    refresh_ttl: timedelta,
) -> AuthServices:
    audit = AuditLog(storage.audit)
    second_factor = SecondFactor(storage.users, audit, secret=secret)
    access = AccessTokens(secret, access_ttl)
    return AuthServices(
        registration=Registration(storage.users, audit),
        sessions=Sessions(
            storage.users,
            storage.tokens,
            audit,
            second_factor,
            throttle,
            access=access,
            refresh_ttl=refresh_ttl,
        ),
        authenticator=RequestAuthenticator(storage.users, storage.tokens, storage.api_keys, access=access),
        account=AccountService(storage.users, storage.api_keys, audit, second_factor),
    )
