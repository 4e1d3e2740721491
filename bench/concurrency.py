"""`make concurrency`: concurrent writers on one entry and one word list over real HTTP; no acknowledged write lost.

Entry editors repeatedly read the entry, append their own token to its definitions and write it back with
`If-Match`; list writers read the list and add their own headword with `If-Match`. On 412 a writer reads again
and retries. Afterwards every acknowledged token and word must be there, every rejection must have been a 412, and
each resource's version must have grown by exactly the number of acknowledged writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.servers import uvicorn_server
from bench.services import BACKENDS, ServiceUnavailable, empty_database
from lexica.settings import Settings
from lexica.storage.backends import open_storage
from lexica.words.gcide import SourceReport, gcide_files, read_entries
from lexica.words.importing import import_entries

ADMIN = ("probe-editor@lexica.test", "a long passphrase for lost-update runs")
HEADWORD = "lost-update-probe"
# Each instance caches entries in memory; a read before a conditional write asks for the stored entry.
FRESH = {"Cache-Control": "no-cache"}


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    rejected_412: int = 0
    other: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        if status == 412:
            self.rejected_412 += 1
        else:
            self.other[status] = self.other.get(status, 0) + 1


@dataclass
class Outcome:
    entry: Tally
    word_list: Tally


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
        current = await client.get(f"/api/v1/words/{HEADWORD}", headers=FRESH)
        texts = [d["text"] for d in current.json()["parts_of_speech"][0]["definitions"]]
        token = f"{name}-{done}"
        body = {"headword": HEADWORD, "parts_of_speech": _section([*texts, token])}
        response = await client.put(
            f"/api/v1/words/{HEADWORD}", json=body, headers={**headers, "If-Match": current.headers["etag"]}
        )
        if response.status_code == 200:
            tally.acknowledged.append(token)
            done += 1
        else:
            tally.count(response.status_code)
            if response.status_code != 412:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text}")


async def _list_writer(
    client: httpx.AsyncClient, headers: dict[str, str], href: str, words: list[str], tally: Tally
) -> None:
    for word in words:
        while True:
            current = await client.get(href, params={"limit": 1}, headers=headers)
            response = await client.post(
                f"{href}/words", json={"headwords": [word]}, headers={**headers, "If-Match": current.headers["etag"]}
            )
            if response.status_code == 200:
                tally.acknowledged.append(word)
                break
            tally.count(response.status_code)
            if response.status_code != 412:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text}")


async def _headwords(client: httpx.AsyncClient, count: int) -> list[str]:
    found: list[str] = []
    url: str | None = "/api/v1/words?limit=100"
    while url is not None and len(found) < count:
        page = (await client.get(url)).json()
        found.extend(item["headword"] for item in page["items"])
        url = page["links"]["next"]
    if len(found) < count:
        raise RuntimeError(f"the dictionary holds fewer than {count} headwords")
    return found[:count]


async def _all_list_words(client: httpx.AsyncClient, headers: dict[str, str], href: str) -> tuple[int, set[str]]:
    words: set[str] = set()
    url: str | None = f"{href}?limit=100"
    version = 0
    while url is not None:
        page = (await client.get(url, headers=headers)).json()
        version = page["list"]["version"]
        words.update(item["headword"] for item in page["words"]["items"])
        url = page["words"]["links"]["next"]
    return version, words


async def run(base_url: str, writers: int, writes: int) -> Outcome:
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        form = {"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = await client.post(
            "/api/v1/words", json={"headword": HEADWORD, "parts_of_speech": _section(["start"])}, headers=headers
        )
        if created.status_code != 201:
            raise RuntimeError(f"could not create the probe entry: {created.text}")
        word_list = await client.post("/api/v1/lists", json={"name": "lost-update probe"}, headers=headers)
        if word_list.status_code != 201:
            raise RuntimeError(f"could not create the probe list: {word_list.text}")
        href = word_list.json()["href"]
        words = await _headwords(client, writers * writes)
        outcome = Outcome(entry=Tally(), word_list=Tally())
        await asyncio.gather(
            *(_writer(client, headers, f"w{n}", writes, outcome.entry) for n in range(writers)),
            *(
                _list_writer(client, headers, href, words[n * writes : (n + 1) * writes], outcome.word_list)
                for n in range(writers)
            ),
        )
        final = (await client.get(f"/api/v1/words/{HEADWORD}", headers=FRESH)).json()
        list_version, listed = await _all_list_words(client, headers, href)
    texts = {d["text"] for d in final["parts_of_speech"][0]["definitions"]}
    missing = [token for token in outcome.entry.acknowledged if token not in texts]
    if missing:
        raise AssertionError(f"{len(missing)} acknowledged entry writes were lost: {missing[:5]}")
    if final["version"] != 1 + len(outcome.entry.acknowledged):
        raise AssertionError(f"entry version {final['version']} != 1 + {len(outcome.entry.acknowledged)} writes")
    lost = [word for word in outcome.word_list.acknowledged if word not in listed]
    if lost:
        raise AssertionError(f"{len(lost)} acknowledged list writes were lost: {lost[:5]}")
    if list_version != 1 + len(outcome.word_list.acknowledged) or len(listed) != len(outcome.word_list.acknowledged):
        raise AssertionError(
            f"list version {list_version} / {len(listed)} words != {len(outcome.word_list.acknowledged)} writes"
        )
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--writes", type=int, default=10, help="acknowledged writes per writer")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--backend", choices=[*BACKENDS, "all"], default="all", help="a fresh database of each (default: all three)"
    )
    args = parser.parse_args()
    for backend in BACKENDS if args.backend == "all" else (args.backend,):
        with tempfile.TemporaryDirectory(prefix="lexica-concurrency-") as directory:
            try:
                with empty_database(backend, Path(directory)) as database_url:
                    asyncio.run(seed_letters(database_url, "X"))
                    print(measure(args, database_url), flush=True)
            except ServiceUnavailable as exc:
                print(f"{backend}: not measured: {exc}", flush=True)


async def seed_letters(database_url: str, *letters: str) -> None:
    """GCIDE's entries for `letters` (enough distinct headwords for every list writer), through the storage port."""
    files = [path for path in gcide_files() if path.name in {f"words_{letter}.json" for letter in letters}]
    async with open_storage(Settings(database_url=database_url, environment="test")) as storage:
        await import_entries(storage.words, read_entries(files, SourceReport()))


def measure(args: argparse.Namespace, database_url: str) -> str:
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
    with uvicorn_server(["lexica.app:create_app", "--factory", "--workers", str(args.workers)], env) as served:
        started = time.perf_counter()
        outcome = asyncio.run(run(served.base_url, args.writers, args.writes))
        seconds = time.perf_counter() - started
    return describe(outcome, args.writers, args.writes, args.workers, database_url, seconds)


def describe(outcome: Outcome, writers: int, writes: int, workers: int, database_url: str, seconds: float) -> str:
    backend = database_url.split(":")[0].split("+")[0]
    return (
        f"{backend}: {writers} entry editors and {writers} list writers x {writes} writes over {workers} workers; "
        f"entry: {len(outcome.entry.acknowledged)} acknowledged, all present, {outcome.entry.rejected_412} x 412; "
        f"list: {len(outcome.word_list.acknowledged)} acknowledged, all present, "
        f"{outcome.word_list.rejected_412} x 412; 0 lost; {seconds:.1f}s"
    )


if __name__ == "__main__":
    main()
