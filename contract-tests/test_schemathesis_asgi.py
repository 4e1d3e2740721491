"""Schemathesis, all checks, positive and negative data, against the app in-process on real GCIDE data.

Requests are authenticated as an admin with an API key (so that every operation is reachable), applied by a
Schemathesis auth provider: its `ignored_auth` check then also sends each request without the key and with
an invalid one, and fails if the server accepts either (checked by disabling enforcement: it fails).
`deleteCurrentUser` is left out here, since it would delete the very account the run uses; server/tests/auth
tests it.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis_hooks  # noqa: F401 - registers the NDJSON serializer and the semantic checks
import tracecov
import tracecov.schemathesis as tracecov_schemathesis
from hypothesis import settings
from pydantic import SecretStr
from schemathesis.specs.openapi.schemas import OpenApiSchema

from lexica.app import create_app
from lexica.auth.throttle import MemoryLoginThrottle
from lexica.auth.wiring import build_auth_services
from lexica.platform.docs import bundled_spec
from lexica.platform.security import Principal, Role
from lexica.settings import Settings
from lexica.storage.sql.auth import sql_auth_storage
from lexica.storage.sql.database import create_engine, upgrade_schema
from lexica.storage.sql.words import SqlWordRepository
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries

SECRET = "schemathesis-secret-key-long-enough-for-any-check"
FUZZ_QUOTA = "1000000/minute"


async def _seed(database_url: str) -> str:
    """Letter A of GCIDE and an admin; returns the admin's API key."""
    engine = create_engine(database_url)
    try:
        await upgrade_schema(engine)
        files = [path for path in gcide_files() if path.name == "words_A.json"]
        await import_entries(SqlWordRepository(engine), read_entries(files, SourceReport()))
        auth = build_auth_services(
            sql_auth_storage(engine),
            MemoryLoginThrottle(),
            secret=SECRET,
            access_ttl=timedelta(minutes=15),
            refresh_ttl=timedelta(days=1),
        )
        admin = await auth.registration.register("root@lexica.test", "a long admin passphrase", "Admin", Role.ADMIN)
        principal = Principal(user_id=admin.id, role=Role.ADMIN, via="token")
        _, key = await auth.account.create_api_key(principal, "schemathesis", None)
        return key
    finally:
        await engine.dispose()


def _load_schema() -> tuple[OpenApiSchema, str]:
    # Loaded at import: schemathesis parametrizes at collection time (its lazy fixture loader does not
    # support pytest 9.2). The database lives in a temporary directory removed at interpreter exit.
    directory = tempfile.TemporaryDirectory(prefix="lexica-schemathesis-")
    atexit.register(directory.cleanup)
    url = f"sqlite+aiosqlite:///{Path(directory.name) / 'lexica.sqlite3'}"
    key = asyncio.run(_seed(url))
    # Imports of "the GCIDE dictionary" read one letter here, so that generated import jobs stay small.
    gcide_dir = Path(directory.name) / "gcide"
    gcide_dir.mkdir()
    shutil.copy(next(path for path in gcide_files() if path.name == "words_X.json"), gcide_dir)
    settings = Settings(
        database_url=url,
        environment="test",
        tune_gc=False,
        secret_key=SecretStr(SECRET),
        # Rate limiting on, as deployed, so that every response carries (and `rate_limit_headers` checks) its
        # RateLimit headers; quotas far above what the run sends, so that no schema-valid request is refused.
        rate_limit_enabled=True,
        rate_limit_anonymous=FUZZ_QUOTA,
        rate_limit_authenticated=FUZZ_QUOTA,
        rate_limit_login=FUZZ_QUOTA,
        gcide_data_dir=gcide_dir,
        job_files_dir=Path(directory.name) / "jobs",
        job_concurrency=1,
        # Job limits no run reaches: whether a job is admitted must not depend on how many earlier examples' jobs
        # are still running (each runs in a worker process of its own), or a replayed example answers otherwise
        # than it did and Hypothesis reports its data generation as flaky. The limits have their own tests.
        job_admin_max_running=100_000,
        job_admin_max_per_hour=100_000,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings)), key


schema, ADMIN_KEY = _load_schema()
# Every request the run sends (probes of the semantic checks included), mapped onto the spec's operations,
# parameters and schema keywords (TraceCov): `test_the_run_exercises_the_schema` gates on it.
COVERAGE = tracecov.CoverageMap.from_dict(json.loads(bundled_spec()))
KEYWORD_COVERAGE = 90  # percent


@schema.hook
def after_call(context: schemathesis.HookContext, case: schemathesis.Case[Any], response: Any) -> None:
    interaction = tracecov_schemathesis.from_response(case.method, response)
    COVERAGE.record(interaction.request, interaction.response)


@schema.auth()
class AdminApiKey:
    def get(self, case: schemathesis.Case[Any], context: Any) -> str:
        return ADMIN_KEY

    def set(self, case: schemathesis.Case[Any], data: str, context: Any) -> None:
        case.headers["X-API-Key"] = data


@schema.exclude(operation_id="deleteCurrentUser").parametrize()
def test_api_conforms_to_its_spec(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


# Stateful: sequences that follow the spec's OpenAPI links with real ids and ETags from earlier responses
# (create list -> add words -> get -> patch -> remove word -> delete, and API keys, users). Every step runs
# every check, so e.g. a stale `If-Match` carried by a link must be a declared 412, never a 5xx.
# `registerUser` is left out: a replayed example would register a taken email (409 instead of 201), so the
# sequence Hypothesis replays would differ from the one it recorded; registration has its own tests.
_STATEFUL = schema.exclude(operation_id=["deleteCurrentUser", "registerUser"])


# Hypothesis replays an example to confirm it; a replayed Idempotency-Key would answer with the first run's resource
# (by design) and make the replay diverge: the `before_call` hook in schemathesis_hooks.py gives every request a
# fresh key.
class StatefulApi(_STATEFUL.as_state_machine()):  # type: ignore[misc]
    pass


TestStatefulApi = StatefulApi.TestCase
TestStatefulApi.settings = settings(max_examples=40, stateful_step_count=8, deadline=None)


def test_the_run_exercises_the_schema() -> None:
    """Runs last in this module (pytest keeps file order): at least 90% of the spec's schema keywords (each
    `minLength`, `pattern`, `enum`, `required`, ... of every parameter and request body) were exercised by the runs
    above, and every operation was called. Measured by TraceCov over every request they sent."""
    statistic = COVERAGE.statistic()
    if statistic["operations"]["seen"] == 0:
        pytest.skip("the Schemathesis runs of this module did not run (run the whole module)")
    print(COVERAGE.generate_text_summary(colored=False))
    violations = COVERAGE.check_thresholds(keywords=KEYWORD_COVERAGE, parameters=KEYWORD_COVERAGE)
    assert [str(violation) for violation in violations] == []
    unseen = statistic["operations"]["total"] - statistic["operations"]["seen"]
    # deleteCurrentUser is left out of the runs (it would delete the account they use).
    assert unseen == 1, f"{unseen} operations never called"
