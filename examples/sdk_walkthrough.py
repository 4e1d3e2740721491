"""The walkthrough of `examples/walkthrough.sh`, with the Python SDK (`pip install ./sdk-python`).

    LEXICA_URL=http://127.0.0.1:8000 ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD='…' python examples/sdk_walkthrough.py

Reads with ETags, an account, a word list, an NDJSON import followed live, and cleaning up. The SDK retries what
is safe to retry, sends an `Idempotency-Key` with every create, and raises a `LexicaError` subclass for every
problem the API answers. contract-tests/test_examples.py runs it against a live server.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lexica_client import Lexica, NotFoundError, NotModified, PreconditionFailedError
from lexica_client.events import JobFinished
from lexica_client.models import Registration

BASE_URL = os.environ.get("LEXICA_URL", "http://127.0.0.1:8000")
ENTRIES = Path(__file__).with_name("entries.ndjson")


def main() -> None:
    with Lexica(BASE_URL) as anyone:
        apple = anyone.lookup("apple")  # the entry and its ETag
        print(apple.value.headword, apple.etag)
        assert isinstance(anyone.words.get("apple", if_none_match=apple.etag), NotModified)
        print("fuzzy:", [hit.headword for hit in anyone.search("aple", mode="fuzzy").items][:3])
        try:
            anyone.lookup("no such headword at all")
        except NotFoundError as error:
            print("404:", error.detail, error.request_id)

        email = f"sdk-walker-{time.time_ns()}@example.com"
        password = "a long passphrase of the SDK walker"  # noqa: S105 - an example account
        anyone.auth.register(Registration(email=email, password=password))

    with Lexica(BASE_URL) as walker:
        walker.sign_in(email, password)  # tokens are refreshed by the client when they expire
        fruit = walker.create_list("Fruit", public=True)
        added = walker.add_words(fruit.value.id, ["apple", "applesauce"], etag=fruit.etag)
        print("added:", added.value.added)
        try:
            walker.add_words(fruit.value.id, ["apple pie"], etag=fruit.etag)  # the ETag before the change
        except PreconditionFailedError:
            print("412: the list changed since that ETag")
        walker.add_words_retrying(fruit.value.id, ["apple pie"])  # re-reads the ETag and tries again
        print("list:", [line.headword for line in walker.export_list(fruit.value.id)])
        walker.delete_list(fruit.value.id, etag=walker.get_list(fruit.value.id).etag)

    with Lexica(BASE_URL) as admin:
        admin.sign_in(os.environ["ADMIN_EMAIL"], os.environ["ADMIN_PASSWORD"])
        entries = [json.loads(line) for line in ENTRIES.read_text(encoding="utf-8").splitlines()]
        job = admin.import_entries(entries)
        for event in admin.follow_job(job.id):  # server-sent events, resumed across reconnects
            print("event:", type(event).__name__)
            if isinstance(event, JobFinished):
                break
        finished = admin.get_job(job.id)
        print("job:", finished.state.value, finished.result)
        admin.delete_job(job.id)
        try:
            admin.get_job(job.id)
        except NotFoundError:
            print("job deleted")


if __name__ == "__main__":
    main()
