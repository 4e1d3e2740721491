"""Reading GCIDE: merging repeated headwords, skipping extraction artifacts, keeping content intact."""

from __future__ import annotations

import json

import pytest

from lexica.words.gcide import SourceReport, gcide_files, is_artifact, read_entries
from tests.conftest import letter_files


@pytest.mark.parametrize(
    "key",
    [
        "a\na* (, n. the state of being a [r.] de quincey.\n[1913 webster]",
        "pipi (?), n. [f., fr. it. peduccio console, corbel.] a pedestal.1913 webster]",
        "volapvol`a*p, n. one who is conversant with, or who favors adoption of, volap1913 webster]",
        "x" * 81,
        "  ",
    ],
)
def test_extraction_fragments_are_artifacts(key: str) -> None:
    assert is_artifact(key)


@pytest.mark.parametrize("key", ["webster", "websterite", "24/7", "aaron's rod", "a cappella", 'gon"iff', "-in"])
def test_real_headwords_are_not_artifacts(key: str) -> None:
    assert not is_artifact(key)


def test_headwords_repeated_across_files_are_merged_in_file_order() -> None:
    files = letter_files("C", "R")
    report = SourceReport()
    entries = {entry.key: entry for entry in read_entries(files, report)}
    assert report.merged["race"] == 2
    sections = json.loads(entries["race"].content)
    raw_c = json.loads(files[0].read_text())["race"]["pos"]
    raw_r = json.loads(files[1].read_text())["race"]["pos"]
    assert len(sections) == len(raw_c) + len(raw_r)
    assert sections[0]["definitions"] == raw_c[0]["definitions"]
    assert sections[len(raw_c)]["definitions"] == raw_r[0]["definitions"]


def test_every_field_of_the_source_is_kept() -> None:
    files = letter_files("A")
    raw = json.loads(files[0].read_text())
    entries = {entry.key: entry for entry in read_entries(files, SourceReport())}
    for key in ("abandon", "a", "abaddon", "apple"):
        sections = json.loads(entries[key].content)
        for section, source in zip(sections, raw[key]["pos"], strict=True):
            assert section["part_of_speech"] == source["part_of_speech"]
            assert section["etymology"] == source.get("etymology")
            assert section["definitions"] == source["definitions"]
            assert section["compounds"] == source.get("cs")
            assert section["synonyms"] == source.get("syn")


def test_whole_dictionary_counts() -> None:
    report = SourceReport()
    entries = read_entries(gcide_files(), report)
    assert report.source_keys == 108_194
    assert len(report.artifacts) == 32
    assert len(report.merged) == 13
    assert {"race", "lien", "aeon", "bouge"} <= set(report.merged)
    assert len(entries) == 108_149
    assert len({entry.key for entry in entries}) == len(entries)
