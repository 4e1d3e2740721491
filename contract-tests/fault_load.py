"""A mixed load of reads and writes against a live server that records, for every write, what the client was told,
so that a test can compare it with what the database holds afterwards (`Ledger.check`)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "Quiet-Lantern-47-Orchard"
WORDS = ("apple", "banana", "cat", "dog", "hello", "quiet", "apply", "bandana", "necessary", "café")


@dataclass
class Ledger:
    """What the clients were told, per kind of request."""

    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    lists: dict[str, tuple[str, int]] = field(default_factory=dict)  # list name -> (owner key, status)
    words: list[tuple[str, str, str, int]] = field(default_factory=list)  # (owner key, list id, headword, status)
    jobs: list[tuple[str, str]] = field(default_factory=list)  # (owner key, job href) acknowledged with 202
    server_errors: list[str] = field(default_factory=list)

    def record(self, kind: str, response: httpx.Response) -> None:
        self.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{kind} {response.status_code} {response.text[:200]}")

    def summary(self) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(self.statuses.items()))


async def register(client: httpx.AsyncClient) -> str:
    """A new reader's API key."""
    email = f"fault-{uuid.uuid4().hex[:12]}@example.com"
    registered = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    form = {"grant_type": "password", "username": email, "password": PASSWORD}
    token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    created = await client.post(
        "/api/v1/users/me/api-keys", json={"name": "fault"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


class Client:
    """One user's share of the load: reads, list writes, sign-ins and exports, each outcome written to the ledger."""

    def __init__(self, http: httpx.AsyncClient, key: str, ledger: Ledger, seed: int) -> None:
        self._http = http
        self._key = key
        self._ledger = ledger
        self._random = random.Random(seed)
        self._my_lists: list[str] = []

    @property
    def _auth(self) -> dict[str, str]:
        return {"X-API-Key": self._key}

    async def run_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            action = self._random.choice(
                (self.lookup, self.lookup, self.create_list, self.add_word, self.sign_in, self.export)
            )
            try:
                await action()
            except httpx.TransportError as error:
                self._ledger.transport_errors[f"{action.__name__} {type(error).__name__}"] += 1
            await asyncio.sleep(0.01)

    async def lookup(self) -> None:
        response = await self._http.get(f"/api/v1/words/{self._random.choice(WORDS)}")
        self._ledger.record("lookup", response)

    async def create_list(self) -> None:
        name = f"fault {uuid.uuid4().hex}"
        headers = {**self._auth, "Idempotency-Key": uuid.uuid4().hex}
        response = await self._http.post("/api/v1/lists", json={"name": name}, headers=headers)
        self._ledger.record("create list", response)
        self._ledger.lists[name] = (self._key, response.status_code)
        if response.status_code == 201:
            self._my_lists.append(response.json()["id"])

    async def add_word(self) -> None:
        if not self._my_lists:
            return
        list_id = self._random.choice(self._my_lists)
        word = self._random.choice(WORDS)
        response = await self._http.post(
            f"/api/v1/lists/{list_id}/words", json={"headwords": [word]}, headers={**self._auth, "If-Match": "*"}
        )
        self._ledger.record("add word", response)
        self._ledger.words.append((self._key, list_id, word, response.status_code))

    async def sign_in(self) -> None:
        form = {"grant_type": "password", "username": "nobody@example.com", "password": "wrong password"}
        response = await self._http.post("/api/v1/auth/token", data=form)
        self._ledger.record("sign in", response)

    async def export(self) -> None:
        if not self._my_lists:
            return
        body = {"source": "list", "list_id": self._random.choice(self._my_lists)}
        response = await self._http.post("/api/v1/exports", json=body, headers=self._auth)
        self._ledger.record("export", response)
        if response.status_code == 202:
            self._ledger.jobs.append((self._key, response.json()["href"]))


async def stored_lists(http: httpx.AsyncClient, key: str) -> dict[str, set[str]]:
    """The user's lists as the server stores them: name -> headwords (from the account export)."""
    response = await http.get("/api/v1/users/me/export", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return {item["list"]["name"]: set(item["headwords"]) for item in response.json()["word_lists"]}


async def check(http: httpx.AsyncClient, ledger: Ledger, keys: list[str]) -> list[str]:
    """Every way what the clients were told disagrees with what is stored."""
    problems: list[str] = []
    stored: dict[str, dict[str, set[str]]] = {key: await stored_lists(http, key) for key in keys}
    ids: dict[str, str] = {}
    for key in keys:
        response = await http.get("/api/v1/lists?limit=100", headers={"X-API-Key": key})
        ids.update({item["id"]: item["name"] for item in response.json()["items"]})
    for name, (key, status) in ledger.lists.items():
        exists = name in stored[key]
        if status == 201 and not exists:
            problems.append(f"list {name!r} was acknowledged (201) but is not stored")
        if status >= 500 and exists:
            problems.append(f"list {name!r} was answered {status} but is stored")
    for key, list_id, word, status in ledger.words:
        held = stored[key].get(ids.get(list_id, ""), set())
        if status == 200 and word not in held:
            problems.append(f"{word!r} was acknowledged in list {list_id} but is not stored")
        acknowledged_elsewhere = any(
            (other_list, other_word, other_status) == (list_id, word, 200)
            for _, other_list, other_word, other_status in ledger.words
        )
        if status >= 500 and word in held and not acknowledged_elsewhere:
            problems.append(f"{word!r} was answered {status} in list {list_id} but is stored")
    return problems


async def unfinished_jobs(http: httpx.AsyncClient, ledger: Ledger, within_seconds: float) -> list[dict[str, Any]]:
    """Acknowledged jobs that are missing or not finished once `within_seconds` have passed."""
    deadline = time.monotonic() + within_seconds
    pending = list(ledger.jobs)
    while pending:
        still = []
        for key, href in pending:
            response = await http.get(href, headers={"X-API-Key": key})
            if response.status_code != 200 or response.json()["state"] not in ("succeeded", "failed", "cancelled"):
                still.append((key, href))
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    found = []
    for key, href in pending:
        response = await http.get(href, headers={"X-API-Key": key})
        found.append({"href": href, "status": response.status_code, "body": response.text[:300]})
    return found
