"""The README cannot rot unnoticed: it opens with the two set-up commands, every curl command in it names an
operation of the spec (or a page the server serves), every `make` target, `lexica` command and repository path it
mentions exists. (The walkthroughs in `examples/` are run for real by test_examples.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from lexica.cli import app as cli_app

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", ROOT / "sdk-python" / "README.md"]
README = READMES[0].read_text(encoding="utf-8")
SPEC = json.loads((ROOT / "server" / "lexica" / "_generated" / "openapi.json").read_text())
PAGES = {"/", "/docs", "/redoc", "/asyncapi", "/openapi.json", "/asyncapi.json", "/problems", "/problems/{slug}"}
_CODE_BLOCK = re.compile(r"```(?:sh|bash)\n(.*?)```", re.DOTALL)
_URL = re.compile(r"(?:localhost|127\.0\.0\.1):8000(/[^\s'\"]*)")
_VARIABLE = re.compile(r"\$\{?\w+\}?|…|\{[^}/]*\}")
_PATH = re.compile(
    r"`((?:\.ci|docs|examples|server|codegen|contract-tests|sdk-python|bench|openapi|asyncapi|deploy)/[^`\s]*)`"
)


def _shell_commands() -> list[str]:
    """Every command of the README's shell blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in _CODE_BLOCK.findall(README):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def _method(command: str) -> str:
    explicit = re.search(r"-X\s+([A-Z]+)", command)
    if explicit:
        return explicit.group(1)
    return "POST" if re.search(r"\s(-d|--data\S*|-F)\s", command) else "GET"


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


OPERATIONS = [
    (method.upper(), _template(path))
    for path, item in SPEC["paths"].items()
    for method in item
    if method != "parameters"
]


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    first = _CODE_BLOCK.search(README)
    assert first is not None
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_every_curl_command_names_an_operation_of_the_spec_or_a_page() -> None:
    curls = [command for command in _shell_commands() if command.startswith("curl")]
    assert len(curls) >= 15  # the scan still finds them
    unknown = []
    for command in curls:
        found = _URL.search(command)
        assert found is not None, command
        path = _VARIABLE.sub("x", found.group(1).split("?")[0])
        method = _method(command)
        if method == "GET" and any(_template(page).match(path) for page in PAGES):
            continue
        if not any(method == wanted and pattern.match(path) for wanted, pattern in OPERATIONS):
            unknown.append(f"{method} {path}: {command}")
    assert unknown == []


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))


def test_every_make_target_mentioned_exists() -> None:
    mentioned = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert mentioned
    assert sorted(mentioned - _make_targets()) == []


def test_every_lexica_command_mentioned_exists() -> None:
    group = typer.main.get_command(cli_app)
    mentioned = re.findall(r"\.venv/bin/lexica ((?:[a-z][\w-]* ?)+)", README)
    assert mentioned
    missing = []
    for words in mentioned:
        command: Any = group
        for word in words.split():
            subcommands = getattr(command, "commands", None)
            if subcommands is None:  # a command: the rest are its arguments
                break
            sub = subcommands.get(word)
            if sub is None:
                missing.append(words)
                break
            command = sub
    assert missing == []


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_repository_path_mentioned_exists(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    paths = set(_PATH.findall(text)) | set(re.findall(r"\]\(((?!https?:)[^)#]+)\)", text))
    checked = {path.rstrip(".,:;") for path in paths if not re.search(r"[<>{}*…]", path)}
    base = readme.parent
    missing = sorted(path for path in checked if not ((base / path).exists() or (ROOT / path).exists()))
    assert missing == []
