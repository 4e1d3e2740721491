"""Behind a trusted proxy, the client is the one X-Forwarded-For names; from anyone else, the header is ignored.

The app applies LEXICA_FORWARDED_ALLOW_IPS itself (uvicorn's ProxyHeadersMiddleware, outermost in create_app), so
rate limits, the login throttle and the audit log all see the same address, under any server.
"""

from __future__ import annotations

import pytest

from lexica.settings import Settings
from tests.auth.conftest import SettingsFactory, running
from tests.auth.helpers import STRONG_PASSWORD, new_email, password_grant, register

PROXY = "10.20.30.40"  # a proxy on another host
ALICE, BOB = "203.0.113.7", "198.51.100.9"


@pytest.mark.parametrize(("trusted", "bob_is_separate"), [(["10.0.0.0/8"], True), (["127.0.0.1"], False)])
async def test_rate_limits_key_on_the_forwarded_client_only_from_a_trusted_proxy(
    settings_for: SettingsFactory, trusted: list[str], bob_is_separate: bool
) -> None:
    settings = settings_for(forwarded_allow_ips=trusted, rate_limit_enabled=True, rate_limit_anonymous="2/minute")
    async with running(settings) as server:
        proxy = server.client(PROXY)
        for _ in range(2):
            assert (await proxy.get("/api/v1/words", headers={"X-Forwarded-For": ALICE})).status_code == 200
        assert (await proxy.get("/api/v1/words", headers={"X-Forwarded-For": ALICE})).status_code == 429
        bob = await proxy.get("/api/v1/words", headers={"X-Forwarded-For": BOB})
        assert bob.status_code == (200 if bob_is_separate else 429)


@pytest.mark.parametrize(("trusted", "bob_is_separate"), [(["10.20.30.40"], True), (["192.0.2.1"], False)])
async def test_the_login_throttle_keys_on_the_forwarded_client_only_from_a_trusted_proxy(
    settings_for: SettingsFactory, trusted: list[str], bob_is_separate: bool
) -> None:
    async with running(settings_for(forwarded_allow_ips=trusted)) as server:
        proxy = server.client(PROXY)
        email = new_email()
        assert (await register(proxy, email)).status_code == 201
        alice, bob = server.client(PROXY), server.client(PROXY)
        alice.headers["X-Forwarded-For"] = ALICE
        bob.headers["X-Forwarded-For"] = BOB
        for _ in range(7):  # past the free failures of this account from this address
            assert (await password_grant(alice, email, "wrong " + STRONG_PASSWORD)).status_code in (400, 429)
        assert (await password_grant(alice, email, STRONG_PASSWORD)).status_code == 429
        from_bob = await password_grant(bob, email, STRONG_PASSWORD)
        assert from_bob.status_code == (200 if bob_is_separate else 429), from_bob.text
        events = await server.storage.audit.events(before=None, limit=100)
        addresses = {event.client_ip for event in events if event.action == "login.failed"}
        assert addresses == ({ALICE} if bob_is_separate else {PROXY})


async def test_a_spoofed_forwarded_for_from_a_client_is_ignored_by_default(settings_for: SettingsFactory) -> None:
    settings = settings_for(rate_limit_enabled=True, rate_limit_anonymous="1/minute")
    async with running(settings) as server:
        direct = server.client(ALICE)
        assert (await direct.get("/api/v1/words", headers={"X-Forwarded-For": "192.0.2.1"})).status_code == 200
        assert (await direct.get("/api/v1/words", headers={"X-Forwarded-For": "192.0.2.2"})).status_code == 429


def test_the_trusted_proxies_setting_takes_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXICA_FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.0.2.1,::1")
    assert Settings().forwarded_allow_ips == ["10.0.0.0/8", "192.0.2.1", "::1"]
    monkeypatch.setenv("LEXICA_FORWARDED_ALLOW_IPS", "proxy.example.com")
    with pytest.raises(ValueError, match="LEXICA_FORWARDED_ALLOW_IPS"):
        Settings()
