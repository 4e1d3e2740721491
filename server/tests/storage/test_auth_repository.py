"""The auth ports' conformance (`AuthStorage`): conditional writes hold under concurrency on every storage backend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

from lexica.auth.repository import ApiKeyRecord, AuthStorage, UserRecord

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def kept(moment: datetime) -> set[datetime]:
    """What a backend may give back for `moment`: itself (SQL keeps microseconds) or the same instant truncated to
    the millisecond (MongoDB's BSON dates); the port promises milliseconds, no more."""
    return {moment, moment.replace(microsecond=moment.microsecond // 1000 * 1000)}


async def add_user(auth: AuthStorage, role: str = "reader", email: str | None = None) -> str:
    user_id = str(uuid.uuid4())
    user = UserRecord(
        id=user_id,
        email=email or f"{user_id}@lexica.test",
        display_name=None,
        password_hash="hash",
        role=role,
        created_at=NOW,
        totp_secret=None,
        totp_confirmed=False,
        totp_last_step=None,
    )
    assert await auth.users.create_user(user)
    return user_id


async def test_users_round_trip_and_emails_are_unique(auth: AuthStorage) -> None:
    user_id = await add_user(auth, "editor", "ada@lexica.test")
    stored = await auth.users.user_by_email("ada@lexica.test")
    assert stored is not None
    assert (stored.id, stored.role) == (user_id, "editor")
    assert stored.created_at in kept(NOW)
    assert await auth.users.user_by_id(user_id) == stored
    duplicate = UserRecord(str(uuid.uuid4()), "ada@lexica.test", None, "h", "reader", NOW, None, False, None)
    assert not await auth.users.create_user(duplicate)


async def test_aware_datetimes_round_trip_as_utc(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    created = datetime(2026, 7, 4, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
    expires = datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=9, minutes=30)))
    key = ApiKeyRecord("key-1", user_id, "ci", "lx_abcdef", "digest", created, None, expires)
    await auth.api_keys.add_api_key(key)
    stored = await auth.api_keys.api_key_by_prefix("lx_abcdef")
    assert stored is not None
    assert stored.created_at in kept(created)
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.expires_at == expires
    assert stored.expires_at is not None
    assert stored.expires_at.tzinfo is not None
    assert stored.last_used_at is None


async def test_a_refresh_token_is_consumed_exactly_once_under_concurrency(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    await auth.tokens.add_refresh_token("token", "family", user_id, NOW + timedelta(days=1))
    results = await asyncio.gather(*(auth.tokens.consume_refresh_token("token", NOW) for _ in range(20)))
    assert (results.count("family"), results.count(None)) == (1, 19)
    record = await auth.tokens.refresh_token("token", NOW)
    assert record is not None
    assert record.used


async def test_expired_or_revoked_refresh_tokens_are_not_consumed(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    await auth.tokens.add_refresh_token("old", "f1", user_id, NOW - timedelta(seconds=1))
    await auth.tokens.add_refresh_token("revoked", "f2", user_id, NOW + timedelta(days=1))
    await auth.tokens.revoke_family("f2")
    assert await auth.tokens.consume_refresh_token("old", NOW) is None
    assert await auth.tokens.consume_refresh_token("revoked", NOW) is None
    assert await auth.tokens.family_revoked("f2")
    assert not await auth.tokens.family_revoked("f1")


async def test_a_totp_step_is_accepted_exactly_once_under_concurrency(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    await auth.users.set_totp(user_id, "sealed", confirmed=True)
    results = await asyncio.gather(*(auth.users.advance_totp_step(user_id, 57_000_001) for _ in range(20)))
    assert results.count(True) == 1
    assert not await auth.users.advance_totp_step(user_id, 57_000_000)
    assert await auth.users.advance_totp_step(user_id, 57_000_002)


async def test_a_recovery_code_is_used_exactly_once_under_concurrency(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    await auth.users.replace_recovery_codes(user_id, ["code-a", "code-b"])
    results = await asyncio.gather(*(auth.users.use_recovery_code(user_id, "code-a") for _ in range(20)))
    assert results.count(True) == 1
    assert await auth.users.use_recovery_code(user_id, "code-b")
    assert not await auth.users.use_recovery_code(user_id, "code-c")


async def test_admins_demoting_each_other_at_once_leave_an_admin(auth: AuthStorage) -> None:
    admins = [await add_user(auth, "admin") for _ in range(4)]
    demotions = [
        auth.users.set_role(target, "reader", actor_id=actor)
        for actor in admins
        for target in admins
        if target != actor
    ]
    await asyncio.gather(*demotions)
    roles = [(await auth.users.user_by_id(user_id)) for user_id in admins]
    assert [user.role for user in roles if user is not None].count("admin") >= 1


async def test_admins_deleting_and_demoting_at_once_leave_an_admin(auth: AuthStorage) -> None:
    admins = [await add_user(auth, "admin") for _ in range(4)]
    deletions = [auth.users.delete_user(user_id) for user_id in admins]
    demotions = [auth.users.set_role(t, "editor", actor_id=a) for a in admins for t in admins if t != a]
    await asyncio.gather(*deletions, *demotions)
    remaining = [await auth.users.user_by_id(user_id) for user_id in admins]
    assert [user.role for user in remaining if user is not None].count("admin") >= 1
    assert await auth.users.any_admin()


async def test_role_changes_need_an_admin_actor(auth: AuthStorage) -> None:
    admin = await add_user(auth, "admin")
    reader = await add_user(auth)
    assert not await auth.users.set_role(admin, "reader", actor_id=reader)
    assert not await auth.users.set_role(admin, "reader", actor_id=admin)  # the last admin stays
    assert await auth.users.set_role(reader, "editor", actor_id=admin)
    assert await auth.users.any_admin()


async def test_admins_can_change_hands_back_and_forth(auth: AuthStorage) -> None:
    first, second = await add_user(auth, "admin"), await add_user(auth, "admin")
    assert await auth.users.set_role(second, "editor", actor_id=first)
    assert not await auth.users.set_role(first, "reader", actor_id=first)  # the last admin stays
    assert not await auth.users.set_role(first, "reader", actor_id=second)  # a former admin is no actor
    assert await auth.users.set_role(second, "admin", actor_id=first)
    assert await auth.users.set_role(second, "admin", actor_id=first)  # already an admin: nothing changes
    assert await auth.users.set_role(first, "reader", actor_id=second)
    assert not await auth.users.delete_user(second)
    assert await auth.users.set_role(first, "admin", actor_id=second)
    assert await auth.users.delete_user(second)
    assert not await auth.users.delete_user(first)
    assert not await auth.users.set_role(str(uuid.uuid4()), "admin", actor_id=first)  # no such user
    stored = await auth.users.user_by_id(first)
    assert stored is not None
    assert stored.role == "admin"


async def test_the_last_admin_is_not_deleted(auth: AuthStorage) -> None:
    first, second = await add_user(auth, "admin"), await add_user(auth, "admin")
    results = await asyncio.gather(auth.users.delete_user(first), auth.users.delete_user(second))
    assert results.count(True) == 1
    survivor = second if results[0] else first
    assert not await auth.users.delete_user(survivor)
    assert await auth.users.user_by_id(survivor) is not None


async def test_deleting_a_user_erases_what_belongs_to_them(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    await auth.tokens.add_refresh_token("t", "f", user_id, NOW + timedelta(days=1))
    await auth.api_keys.add_api_key(ApiKeyRecord("k", user_id, "n", "lx_1", "d", NOW, None, None))
    await auth.users.replace_recovery_codes(user_id, ["c"])
    assert await auth.users.delete_user(user_id)
    assert await auth.users.user_by_id(user_id) is None
    assert await auth.tokens.refresh_token("t", NOW) is None
    assert await auth.api_keys.all_api_keys_of(user_id) == []


async def test_api_keys_newest_first_with_before_paging(auth: AuthStorage) -> None:
    user_id = await add_user(auth)
    for n in range(5):
        await auth.api_keys.add_api_key(
            ApiKeyRecord(f"k{n}", user_id, "n", f"lx_{n}", "d", NOW + timedelta(minutes=n), None, None)
        )
    first = await auth.api_keys.api_keys_of(user_id, before=None, limit=2)
    second = await auth.api_keys.api_keys_of(user_id, before=first[-1].id, limit=10)
    assert [k.id for k in first + second] == ["k4", "k3", "k2", "k1", "k0"]
    assert await auth.api_keys.revoke_api_key(user_id, "k4")
    assert not await auth.api_keys.revoke_api_key(user_id, "k4")
    assert await auth.api_keys.api_key_by_prefix("lx_4") is None


async def test_audit_events_newest_first_with_before_paging(auth: AuthStorage) -> None:
    subject = await add_user(auth)
    for n in range(7):
        await auth.audit.record(
            f"action.{n}", actor_id=None, subject_id=subject if n % 2 else None, client_ip="::1", detail=None, now=NOW
        )
    first = await auth.audit.events(before=None, limit=3)
    rest = await auth.audit.events(before=first[-1].id, limit=10)
    actions = [event.action for event in first + rest]
    assert actions == [f"action.{n}" for n in reversed(range(7))]
    assert [event.id for event in first + rest] == sorted((event.id for event in first + rest), reverse=True)
    assert first[0].occurred_at in kept(NOW)
    assert [event.action for event in await auth.audit.events_about(subject)] == ["action.5", "action.3", "action.1"]
