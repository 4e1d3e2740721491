"""A failed job's `error` is a problem document as the spec declares it: members it lacks (a job's problem has no
request, so no `instance` or `request_id`) are omitted, never `null`, in `GET /jobs` and `GET /jobs/{id}`.
Checked against the spec's own `Job` schema, for a job interrupted by a restart and for jobs recorded failed with
each of the job problems."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import SecretStr
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lexica.jobs.limits import queue_unavailable_problem, quota_problem
from lexica.jobs.record_files import DirectoryJobStore
from lexica.jobs.records import JobRecord, Limits
from lexica.lists.service import new_list_id
from tests.conftest import _client, letter_files, make_settings, seed
from tests.jobs.test_jobs import ADMIN, sign_in

SPEC_URI = "urn:lexica:openapi"


def _job_schema() -> Draft202012Validator:
    spec = json.loads((resources.files("lexica._generated") / "openapi.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/Job"}, registry=registry)


def _assert_conforms(job: dict[str, Any]) -> None:
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in _job_schema().iter_errors(job)]
    assert not errors, f"{errors} in {job}"


async def test_failed_jobs_errors_are_problem_documents_without_null_members(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'errors.sqlite3'}"
    await seed(url, letter_files("X"))
    settings = make_settings(
        url, first_admin_email=ADMIN[0], first_admin_password=SecretStr(ADMIN[1]), job_files_dir=tmp_path / "jobs"
    )
    async for api in _client(settings):
        admin = await sign_in(api, *ADMIN)
        owner = (await api.get("/api/v1/users/me", headers=admin)).json()["id"]

    # What a stopped process leaves: a job still queued (the next start-up records it interrupted), and jobs that
    # failed for the other recorded reasons.
    store = await DirectoryJobStore.open(settings.job_files_dir / "records")
    stages = ("reading", "writing", "indexing")
    left = JobRecord(id=new_list_id(), owner_id=owner, kind="import", params={"source": "gcide"}, stages=stages)
    failed = [
        JobRecord(
            id=new_list_id(), owner_id=owner, kind="export", params={}, stages=("writing",), state="failed", error=error
        )
        for error in (quota_problem(1024), queue_unavailable_problem())
    ]
    for job in (left, *failed):
        assert await store.admit(job, Limits(running=10, per_hour=10)) is None
    await store.close()

    async for api in _client(settings):
        admin = await sign_in(api, *ADMIN)
        listed = (await api.get("/api/v1/jobs", headers=admin)).json()["items"]
        assert {job["id"] for job in listed} == {left.id, *(job.id for job in failed)}
        for job in listed:
            _assert_conforms(job)
            fetched = await api.get(job["href"], headers=admin)
            assert fetched.status_code == 200
            _assert_conforms(fetched.json())
        interrupted = next(job for job in listed if job["id"] == left.id)
        assert interrupted["state"] == "failed"
        assert interrupted["error"]["type"] == "/problems/job-interrupted"
        assert "instance" not in interrupted["error"]
        assert "request_id" not in interrupted["error"]


@pytest.mark.parametrize("member", ["instance", "request_id"])
def test_the_spec_refuses_a_null_problem_member(member: str) -> None:
    """The schema check above has teeth: the spec's Problem does not allow `null` members."""
    job = {"error": {"type": "/problems/job-interrupted", "title": "Job Interrupted", "status": 503, member: None}}
    assert any(error.validator == "oneOf" for error in _job_schema().iter_errors(job))
