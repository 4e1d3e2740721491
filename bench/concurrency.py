"""`make concurrency`: concurrent editors append to one entry over real HTTP; no acknowledged write may be lost.

Each writer repeatedly reads the entry, appends its own token to the definitions and writes it back with
`If-Match`; on 412 it reads again and retries. Afterwards every acknowledged token must be in the entry and the
version must have grown by exactly the number of acknowledged writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.__main__ import _server

ADMIN = ("probe-editor@lexica.test", "a long passphrase for lost-update runs")
HEADWORD = "lost-update-probe"


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    rejected_412: int = 0
    other: dict[int, int] = field(default_factory=dict)


def _section(texts: list[str]) -> list[dict[str, object]]:
    return [
        {
            "part_of_speech": "n.",
            "etymology": None,
            "definitions": [{"text": text, "examples": []} for text in texts],
            "compounds": None,
            "synonyms": None,
        }
    ]


async def _writer(client: httpx.AsyncClient, headers: dict[str, str], name: str, writes: int, tally: Tally) -> None:
    done = 0
    while done < writes:
        current = await client.get(f"/api/v1/words/{HEADWORD}")
        texts = [d["text"] for d in current.json()["parts_of_speech"][0]["definitions"]]
        token = f"{name}-{done}"
        body = {"headword": HEADWORD, "parts_of_speech": _section([*texts, token])}
        response = await client.put(
            f"/api/v1/words/{HEADWORD}", json=body, headers={**headers, "If-Match": current.headers["etag"]}
        )
        if response.status_code == 200:
            tally.acknowledged.append(token)
            done += 1
        elif response.status_code == 412:
            tally.rejected_412 += 1
        else:
            tally.other[response.status_code] = tally.other.get(response.status_code, 0) + 1
            raise RuntimeError(f"unexpected {response.status_code}: {response.text}")


async def run(base_url: str, writers: int, writes: int) -> Tally:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = await client.post(
            "/api/v1/words", json={"headword": HEADWORD, "parts_of_speech": _section(["start"])}, headers=headers
        )
        if created.status_code != 201:
            raise RuntimeError(f"could not create the probe entry: {created.text}")
        tally = Tally()
        await asyncio.gather(*(_writer(client, headers, f"w{n}", writes, tally) for n in range(writers)))
        final = (await client.get(f"/api/v1/words/{HEADWORD}")).json()
    texts = {d["text"] for d in final["parts_of_speech"][0]["definitions"]}
    missing = [token for token in tally.acknowledged if token not in texts]
    if missing:
        raise AssertionError(f"{len(missing)} acknowledged writes were lost: {missing[:5]}")
    if final["version"] != 1 + len(tally.acknowledged):
        raise AssertionError(f"version {final['version']} != 1 + {len(tally.acknowledged)} acknowledged writes")
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--writes", type=int, default=10, help="acknowledged writes per writer")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--database-url", default=None, help="defaults to a fresh SQLite file, removed afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lexica-concurrency-") as directory:
        _main(args, args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'lexica.sqlite3'}")


def _main(args: argparse.Namespace, database_url: str) -> None:
    env = dict(os.environ)
    env.update(
        {
            "LEXICA_DATABASE_URL": database_url,
            "LEXICA_RATE_LIMIT_ENABLED": "false",
            "LEXICA_FIRST_ADMIN_EMAIL": ADMIN[0],
            "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN[1],
            "LEXICA_SECRET_KEY": "concurrency-run-secret-key-long-enough-for-checks",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "lexica.cli", "import", "gcide", "--if-empty"], check=True, env=env, capture_output=True
    )
    with _server(["lexica.app:create_app", "--factory", "--workers", str(args.workers)], env) as port:
        started = time.perf_counter()
        tally = asyncio.run(run(f"http://127.0.0.1:{port}", args.writers, args.writes))
        seconds = time.perf_counter() - started
    print(
        f"{args.writers} writers x {args.writes} writes over {args.workers} workers on {database_url.split(':')[0]}: "
        f"{len(tally.acknowledged)} acknowledged, all present; {tally.rejected_412} rejected with 412; "
        f"0 lost; {seconds:.1f}s"
    )


if __name__ == "__main__":
    main()
