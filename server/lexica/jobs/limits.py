"""What one user may ask of the job system, and the problems that say no.

Every user has a cap on jobs queued or running, on jobs started per hour, and a storage quota for the job files
(uploads while they wait to be imported, export results until they expire). Admins get higher limits: they import
and export the whole dictionary, which no other role can, and there are few of them; the limits still bound what a
stolen admin key can do to the disk. All of them are settings (LEXICA_JOB_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lexica.jobs.records import Limits, Refusal
from lexica.platform.problems import ProblemError
from lexica.platform.security import Principal, Role
from lexica.settings import Settings

QUOTA_TYPE = "/problems/storage-quota-exceeded"
INTERRUPTED_TYPE = "/problems/job-interrupted"
QUEUE_UNAVAILABLE_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class UserLimits:
    jobs: Limits
    storage_bytes: int


@dataclass(frozen=True, slots=True)
class JobLimits:
    user: UserLimits
    admin: UserLimits
    retention_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> JobLimits:
        return cls(
            user=UserLimits(
                Limits(settings.job_max_running_per_user, settings.job_max_per_hour_per_user),
                settings.job_storage_quota_bytes,
            ),
            admin=UserLimits(
                Limits(settings.job_admin_max_running, settings.job_admin_max_per_hour),
                settings.job_admin_storage_quota_bytes,
            ),
            retention_seconds=settings.job_retention_seconds,
        )

    @classmethod
    def defaults(cls) -> JobLimits:
        """The limits of the settings' defaults (not of the environment)."""
        return cls.from_settings(Settings.model_construct())

    def of(self, principal: Principal) -> UserLimits:
        return self.admin if principal.role >= Role.ADMIN else self.user


def too_many_jobs(refusal: Refusal, limits: Limits) -> ProblemError:
    if refusal.reason == "running":
        detail = (
            f"You have {limits.running} job(s) queued or running, the most allowed at once; "
            "start this one when one of them has finished (or cancel one)."
        )
    else:
        detail = f"You started {limits.per_hour} jobs in the last hour, the most allowed; try again later."
    return ProblemError(
        429,
        detail,
        slug="job-limit-reached",
        title="Job Limit Reached",
        headers={"Retry-After": str(refusal.retry_after)},
    )


def quota_exceeded(quota_bytes: int, retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        f"Your job files (uploads waiting to be imported, export results) would take more than your quota of "
        f"{quota_bytes:,} bytes; files are deleted when they expire, or download and start fewer exports.",
        slug="storage-quota-exceeded",
        title="Storage Quota Exceeded",
        headers={"Retry-After": str(max(1, retry_after))},
    )


def quota_problem(quota_bytes: int) -> dict[str, Any]:
    """The error of an export whose file outgrew its owner's quota while it was written."""
    return {
        "type": QUOTA_TYPE,
        "title": "Storage Quota Exceeded",
        "status": 429,
        "detail": f"The export's file outgrew your storage quota of {quota_bytes:,} bytes and was deleted.",
    }


def queue_unavailable(*, recorded: bool) -> ProblemError:
    where = " (it is recorded as failed)" if recorded else ""
    return ProblemError(
        503,
        f"The job queue is unavailable, so the job was not started{where}; try again shortly.",
        slug="job-queue-unavailable",
        title="Job Queue Unavailable",
        headers={"Retry-After": str(QUEUE_UNAVAILABLE_RETRY_AFTER)},
    )


def queue_unavailable_problem() -> dict[str, Any]:
    return {
        "type": "/problems/job-queue-unavailable",
        "title": "Job Queue Unavailable",
        "status": 503,
        "detail": "The job could not be queued; it never ran. Start it again.",
    }


def interrupted_problem() -> dict[str, Any]:
    return {
        "type": INTERRUPTED_TYPE,
        "title": "Job Interrupted",
        "status": 503,
        "detail": "The server stopped while this job ran; start it again.",
    }


def worker_lost_problem(detail: str) -> dict[str, Any]:
    """The error of a job whose worker stopped under it and that nothing will run again."""
    return {"type": "/problems/worker-lost", "title": "Worker Lost", "status": 500, "detail": detail}
