"""Who may read `GET /metrics`: anyone, or admins only (`LEXICA_METRICS_ACCESS=admin`, production's default)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from lexica.settings import Settings
from tests.auth.conftest import SettingsFactory, running
from tests.auth.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    assert_problem,
    assert_unauthorized,
    bearer,
    create_api_key,
    password_grant,
    sign_in,
    sign_up,
)


def test_production_keeps_the_metrics_for_admins_unless_told_otherwise() -> None:
    secret = SecretStr("x" * 64)
    assert Settings(environment="production", secret_key=secret).effective_metrics_access == "admin"
    chosen = Settings(environment="production", secret_key=secret, metrics_access="public")
    assert chosen.effective_metrics_access == "public"
    assert Settings(environment="development").effective_metrics_access == "public"


async def test_admin_only_metrics_refuse_anonymous_and_non_admin_callers(settings_for: SettingsFactory) -> None:
    settings = settings_for(metrics_access="admin", first_admin_email=ADMIN_EMAIL, first_admin_password=ADMIN_PASSWORD)
    async with running(settings) as server:
        api = server.client()
        assert_unauthorized(await api.get("/metrics"))
        assert_unauthorized(await api.get("/metrics", headers=bearer("not-a-token")))

        reader = await sign_up(api)
        problem = assert_problem(await api.get("/metrics", headers=reader.headers), 403)
        assert "admin" in problem["detail"]

        admin = await sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        by_token = await api.get("/metrics", headers=admin.headers)
        assert by_token.status_code == 200
        assert "lexica_entry_cache_hits_total" in by_token.text
        # Prometheus sends a credential file's content as a bearer token: an admin's API key works so.
        key = (await create_api_key(api, admin.headers, name="prometheus"))["key"]
        assert (await api.get("/metrics", headers=bearer(key))).status_code == 200
        assert (await api.get("/metrics", headers={"X-API-Key": key})).status_code == 200


@pytest.mark.parametrize("access", ["public", None])
async def test_public_metrics_need_no_credentials(settings_for: SettingsFactory, access: str | None) -> None:
    async with running(settings_for(metrics_access=access)) as server:
        response = await server.client().get("/metrics")
        assert response.status_code == 200
        assert response.text.startswith("# HELP ")


async def test_sign_ins_the_throttle_refuses_are_counted(settings_for: SettingsFactory) -> None:
    async with running(settings_for()) as server:
        api = server.client()
        email = (await sign_up(api)).email
        refused = 0
        for _ in range(30):
            response = await password_grant(api, email, "Wrong-Password-Every-Time-1")
            refused += response.status_code == 429
            if refused == 2:
                break
        assert refused == 2, "the throttle never refused"
        metrics = (await api.get("/metrics")).text
        assert "lexica_login_throttled_total 2.0" in metrics.splitlines()
