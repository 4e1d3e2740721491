"""TOTP two-factor authentication: enrolment, sign-in with a code, replay, recovery codes, turning it off."""

from __future__ import annotations

import asyncio

import httpx
import pyotp
import pytest

from tests.auth.conftest import Server
from tests.auth.helpers import (
    Mfa,
    Session,
    TotpClock,
    assert_invalid_grant,
    assert_problem,
    enable_mfa,
    me,
    password_grant,
    sign_up,
)

TOTP_PATH = "/api/v1/users/me/mfa/totp"


@pytest.fixture
async def session(api: httpx.AsyncClient) -> Session:
    return await sign_up(api)


@pytest.fixture
async def mfa(api: httpx.AsyncClient, session: Session, totp_clock: TotpClock) -> Mfa:
    return await enable_mfa(api, session, totp_clock)


async def otp_grant(api: httpx.AsyncClient, session: Session, otp: str | None) -> httpx.Response:
    return await password_grant(api, session.email, session.password, otp)


def assert_mfa_required(response: httpx.Response) -> None:
    assert assert_invalid_grant(response)["mfa_required"] is True


async def disable(api: httpx.AsyncClient, session: Session, code: str) -> httpx.Response:
    return await api.post(f"{TOTP_PATH}/disable", json={"code": code}, headers=session.headers)


# enrolment


async def test_enrolment_returns_a_secret_and_its_otpauth_uri(api: httpx.AsyncClient, session: Session) -> None:
    response = await api.post(TOTP_PATH, headers=session.headers)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == body["secret"]
    assert parsed.name == session.email
    assert parsed.issuer == "Lexica"


async def test_unconfirmed_enrolment_does_not_turn_two_factor_on(api: httpx.AsyncClient, session: Session) -> None:
    await api.post(TOTP_PATH, headers=session.headers)

    assert (await me(api, session.headers)).json()["mfa_enabled"] is False
    assert (await otp_grant(api, session, None)).status_code == 200


async def test_totp_secret_is_stored_encrypted(server: Server, api: httpx.AsyncClient, session: Session) -> None:
    secret = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]

    user = await server.storage.users.user_by_id(session.user_id)

    assert user is not None
    assert user.totp_secret is not None
    assert secret not in user.totp_secret


async def test_confirming_turns_two_factor_on_and_returns_ten_recovery_codes(
    api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    secret = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]

    response = await api.post(f"{TOTP_PATH}/confirm", json={"code": totp_clock.code(secret)}, headers=session.headers)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = response.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    assert (await me(api, session.headers)).json()["mfa_enabled"] is True


async def test_confirming_with_a_wrong_code_is_422_and_leaves_two_factor_off(
    api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    secret = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]
    wrong = totp_clock.code(secret, steps=5)

    response = await api.post(f"{TOTP_PATH}/confirm", json={"code": wrong}, headers=session.headers)

    body = assert_problem(response, 422)
    assert body["errors"][0]["location"] == ["body", "code"]
    assert (await me(api, session.headers)).json()["mfa_enabled"] is False


async def test_confirming_without_enrolment_is_409(api: httpx.AsyncClient, session: Session) -> None:
    response = await api.post(f"{TOTP_PATH}/confirm", json={"code": "123456"}, headers=session.headers)

    assert_problem(response, 409)


@pytest.mark.usefixtures("mfa")
async def test_enrolling_again_while_two_factor_is_on_is_409(api: httpx.AsyncClient, session: Session) -> None:
    assert_problem(await api.post(TOTP_PATH, headers=session.headers), 409)


async def test_enrolling_again_replaces_an_unconfirmed_secret(
    api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    first = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]
    second = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]

    stale = await api.post(f"{TOTP_PATH}/confirm", json={"code": totp_clock.code(first)}, headers=session.headers)
    fresh = await api.post(f"{TOTP_PATH}/confirm", json={"code": totp_clock.code(second)}, headers=session.headers)

    assert_problem(stale, 422)
    assert fresh.status_code == 200


async def test_enabling_two_factor_is_audited(
    server: Server, api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    await enable_mfa(api, session, totp_clock)

    assert (await server.audit_actions())[0] == "mfa.enabled"


# signing in


@pytest.mark.usefixtures("mfa")
async def test_sign_in_without_a_code_is_400_with_mfa_required(api: httpx.AsyncClient, session: Session) -> None:
    assert_mfa_required(await otp_grant(api, session, None))


async def test_sign_in_with_a_wrong_code_is_400_with_mfa_required(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    assert_mfa_required(await otp_grant(api, session, totp_clock.code(mfa.secret, steps=3)))
    assert_mfa_required(await otp_grant(api, session, "000000-000000"))


async def test_wrong_password_with_a_valid_code_does_not_say_a_code_is_needed(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    response = await password_grant(api, session.email, "Not-The-Right-One-42", totp_clock.code(mfa.secret))

    assert "mfa_required" not in assert_invalid_grant(response)


async def test_sign_in_with_the_current_code_succeeds(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    response = await otp_grant(api, session, totp_clock.code(mfa.secret))

    assert response.status_code == 200


async def test_code_used_once_is_refused_again_within_its_time_step(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    code = totp_clock.code(mfa.secret)
    assert (await otp_grant(api, session, code)).status_code == 200

    assert_mfa_required(await otp_grant(api, session, code))


async def test_code_that_confirmed_enrolment_cannot_sign_in(
    api: httpx.AsyncClient, session: Session, totp_clock: TotpClock
) -> None:
    secret = (await api.post(TOTP_PATH, headers=session.headers)).json()["secret"]
    code = totp_clock.code(secret)
    await api.post(f"{TOTP_PATH}/confirm", json={"code": code}, headers=session.headers)

    assert_mfa_required(await otp_grant(api, session, code))


async def test_code_of_an_earlier_step_is_refused_after_a_later_one_was_used(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    assert (await otp_grant(api, session, totp_clock.code(mfa.secret))).status_code == 200

    assert_mfa_required(await otp_grant(api, session, totp_clock.code(mfa.secret, steps=-1)))


async def test_code_of_the_next_step_works_after_one_was_used(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    assert (await otp_grant(api, session, totp_clock.code(mfa.secret))).status_code == 200
    totp_clock.advance_steps()

    assert (await otp_grant(api, session, totp_clock.code(mfa.secret))).status_code == 200


async def test_codes_one_step_either_side_are_accepted_for_clock_drift(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    totp_clock.advance_steps()  # the step before is then one that confirming the enrolment did not use
    assert (await otp_grant(api, session, totp_clock.code(mfa.secret, steps=-1))).status_code == 200
    assert (await otp_grant(api, session, totp_clock.code(mfa.secret, steps=1))).status_code == 200


async def test_codes_two_steps_away_are_refused(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    assert_mfa_required(await otp_grant(api, session, totp_clock.code(mfa.secret, steps=-2)))
    assert_mfa_required(await otp_grant(api, session, totp_clock.code(mfa.secret, steps=2)))


# recovery codes


async def test_recovery_code_signs_in_once(api: httpx.AsyncClient, session: Session, mfa: Mfa) -> None:
    code = mfa.recovery_codes[0]

    assert (await otp_grant(api, session, code)).status_code == 200
    assert_mfa_required(await otp_grant(api, session, code))


async def test_each_recovery_code_works_on_its_own(api: httpx.AsyncClient, session: Session, mfa: Mfa) -> None:
    await otp_grant(api, session, mfa.recovery_codes[0])

    assert (await otp_grant(api, session, mfa.recovery_codes[1])).status_code == 200


async def test_recovery_code_is_accepted_in_upper_case(api: httpx.AsyncClient, session: Session, mfa: Mfa) -> None:
    assert (await otp_grant(api, session, mfa.recovery_codes[0].upper())).status_code == 200


async def test_recovery_code_use_is_audited(server: Server, api: httpx.AsyncClient, session: Session, mfa: Mfa) -> None:
    await otp_grant(api, session, mfa.recovery_codes[0])

    assert (await server.audit_actions())[:2] == ["login.succeeded", "mfa.recovery_code_used"]


async def test_recovery_codes_are_stored_hashed(
    server: Server, api: httpx.AsyncClient, session: Session, mfa: Mfa
) -> None:
    assert not await server.storage.users.use_recovery_code(session.user_id, mfa.recovery_codes[0])
    assert (await otp_grant(api, session, mfa.recovery_codes[0])).status_code == 200


# turning it off


async def test_disabling_with_a_fresh_code_turns_two_factor_off(
    server: Server, api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    response = await disable(api, session, totp_clock.code(mfa.secret))

    assert response.status_code == 204
    assert (await me(api, session.headers)).json()["mfa_enabled"] is False
    assert (await otp_grant(api, session, None)).status_code == 200
    assert "mfa.disabled" in await server.audit_actions()


async def test_disabling_with_a_code_already_used_is_422(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    code = totp_clock.code(mfa.secret)
    await otp_grant(api, session, code)

    assert_problem(await disable(api, session, code), 422)
    assert (await me(api, session.headers)).json()["mfa_enabled"] is True


async def test_disabling_with_a_wrong_code_is_422(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    body = assert_problem(await disable(api, session, totp_clock.code(mfa.secret, steps=4)), 422)

    assert body["errors"][0]["location"] == ["body", "code"]


async def test_disabling_with_a_recovery_code_is_422(api: httpx.AsyncClient, session: Session, mfa: Mfa) -> None:
    assert_problem(await disable(api, session, mfa.recovery_codes[0]), 422)
    assert (await me(api, session.headers)).json()["mfa_enabled"] is True


async def test_disabling_when_two_factor_is_off_is_409(api: httpx.AsyncClient, session: Session) -> None:
    assert_problem(await disable(api, session, "123456"), 409)


async def test_recovery_codes_stop_working_once_two_factor_is_turned_off_and_on_again(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    await disable(api, session, totp_clock.code(mfa.secret))
    totp_clock.advance_steps()
    again = await enable_mfa(api, session, totp_clock)

    assert_mfa_required(await otp_grant(api, session, mfa.recovery_codes[0]))
    assert (await otp_grant(api, session, again.recovery_codes[0])).status_code == 200


async def test_one_code_used_concurrently_signs_in_once(
    api: httpx.AsyncClient, session: Session, mfa: Mfa, totp_clock: TotpClock
) -> None:
    code = totp_clock.code(mfa.secret)

    responses = await asyncio.gather(*(otp_grant(api, session, code) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400]


async def test_one_recovery_code_used_concurrently_signs_in_once(
    api: httpx.AsyncClient, session: Session, mfa: Mfa
) -> None:
    responses = await asyncio.gather(*(otp_grant(api, session, mfa.recovery_codes[0]) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400]
