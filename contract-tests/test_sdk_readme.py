"""The SDK README's examples, run as written: every ```python block of sdk-python/README.md is a whole program,
run against a live server over GCIDE's real entries for the letters A and Q, with `LEXICA_BASE_URL` and an admin's
`LEXICA_API_KEY` in the environment as the README says (without the key where the README says so)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run_live_server, seed_database
from seed import letter_entries

from lexica.auth.tokens import API_KEY_PREFIX
from lexica_client import Lexica

README = Path(__file__).resolve().parents[1] / "sdk-python" / "README.md"
WITHOUT_API_KEY = "<!-- readme-test: without LEXICA_API_KEY -->"
ADMIN_EMAIL = "readme-admin@lexica.test"
ADMIN_PASSWORD = "Quiet-Lantern-47-Orchard"
LANGUAGES = frozenset({"python", "bash", "text"})
_FENCE = re.compile(r"^```(\S*)\s*$")
_ENV_NAMES = ("LEXICA_BASE_URL", "LEXICA_API_KEY", "LEXICA_LOG")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block of the README."""

    language: str
    section: str
    line: int  # of the first line inside the fence, from 1
    source: str
    without_api_key: bool

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"{slug}-line{self.line}"


def fenced_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    section = "top"
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        opening = _FENCE.match(line)
        if opening is None:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].rstrip() == "```"), None)
        if end is None:
            raise AssertionError(f"README.md:{index + 1}: a fence that is never closed")
        previous = lines[index - 1].strip() if index else ""
        blocks.append(
            Block(
                language=opening.group(1),
                section=section,
                line=index + 2,
                source="\n".join(lines[index + 1 : end]) + "\n",
                without_api_key=previous == WITHOUT_API_KEY,
            )
        )
        index = end + 1
    return blocks


README_TEXT = README.read_text(encoding="utf-8")
PYTHON_BLOCKS = [block for block in fenced_blocks(README_TEXT) if block.language == "python"]


def run_program(block: Block) -> None:
    """Runs the block as a program of its own; top-level `await` runs in a new event loop."""
    # Blank lines first, so that a traceback names the README's own line numbers.
    source = "\n" * (block.line - 1) + block.source
    code = compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    namespace: dict[str, object] = {"__name__": "__main__"}
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over GCIDE's entries for A and Q (every word the examples use), with an admin account."""
    database_url = seed_database(tmp_path_factory.mktemp("readme-db"), [*letter_entries("A"), *letter_entries("Q")])
    env = {
        "LEXICA_FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
        "LEXICA_FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LEXICA_SECRET_KEY": "readme-examples-secret-key-long-enough-for-every-check",
    }
    with run_live_server(database_url, tmp_path_factory.mktemp("readme-server"), extra_env=env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def admin_api_key(readme_server: str) -> str:
    """An admin's API key: the README's import and entry-editing examples need an admin's or an editor's."""
    with pytest.MonkeyPatch.context() as environment:
        environment.delenv("LEXICA_API_KEY", raising=False)  # a client with a key cannot sign in
        with Lexica(readme_server) as lexica:
            lexica.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            return lexica.users.create_api_key({"name": "readme examples"}).key


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.id for block in PYTHON_BLOCKS])
def test_readme_example_runs_against_a_live_server(
    block: Block, readme_server: str, admin_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEXICA_BASE_URL", readme_server)
    if not block.without_api_key:
        monkeypatch.setenv("LEXICA_API_KEY", admin_api_key)

    run_program(block)


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """Each example as a module of its own, checked against the client's types as a user's program would be."""
    for number, block in enumerate(PYTHON_BLOCKS):
        (tmp_path / f"readme_example_{number:02d}.py").write_text(block.source, encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--strict", "--config-file", os.devnull, "."]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stdout


def test_every_python_fence_of_the_readme_is_run() -> None:
    assert len(PYTHON_BLOCKS) == README_TEXT.count("```python\n")
    assert len(PYTHON_BLOCKS) >= 10


def test_readme_blocks_say_their_language() -> None:
    """An untagged block would be neither run nor meant as shell: each is python (run), bash or text."""
    untagged = {block.line: block.language for block in fenced_blocks(README_TEXT) if block.language not in LANGUAGES}
    assert untagged == {}


def test_readme_links_to_nothing_outside_the_package() -> None:
    """The README is the wheel's long description: a relative link would be broken wherever it is shown."""
    relative = re.findall(r"\]\((?!https?://)[^)]*\)|href=\"(?!https?://)[^\"]*\"", README_TEXT)
    assert relative == []


def test_readme_shows_the_api_key_prefix_the_server_issues() -> None:
    prefixes = set(re.findall(r"\blx[a-z]*_", README_TEXT))
    assert prefixes == {API_KEY_PREFIX}
