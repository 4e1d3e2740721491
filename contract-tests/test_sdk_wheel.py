"""The SDK as its users get it: the wheel and the sdist built from sdk-python/, the wheel installed into a fresh venv
outside the repository, and programs using only what the wheel ships run there against a live server and checked
with mypy --strict against the installed package."""

from __future__ import annotations

import email.message
import email.parser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sdk_helpers import ALL_HEADWORDS

from lexica_client import __version__

pytestmark = pytest.mark.slow  # builds, installs into a new venv and type-checks: 15-30 s

REPO = Path(__file__).resolve().parents[1]
SDK = REPO / "sdk-python"
CONSTRAINTS = REPO / "constraints.txt"
PROGRAMS = {
    "sync_program.py": Path(__file__).with_name("sdk_wheel_sync_program.py"),
    "async_program.py": Path(__file__).with_name("sdk_wheel_async_program.py"),
}
# Two mistakes that mypy must find in the installed package's types: `lookup` gives a Tagged[Entry], and
# `search` takes an int limit.
WRONG_PROGRAM = """\
from lexica_client import Entry, Lexica

with Lexica() as lexica:
    entry: Entry = lexica.lookup("apple")
    lexica.search("apple", limit="ten")
"""
WRONG_LINES = {4, 5}
BUILD_TIMEOUT = 180
INSTALL_TIMEOUT = 300
RUN_TIMEOUT = 60
MYPY_TIMEOUT = 240


@dataclass(frozen=True, slots=True)
class Built:
    wheel: Path
    sdist: Path


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python at the repository or the project's venv."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "MYPYPATH"}
    env = {name: value for name, value in os.environ.items() if name not in dropped and not name.startswith("LEXICA_")}
    env.update({"PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra})
    return env


def _run(command: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel and the sdist, built by `python -m build` from a copy of sdk-python/ (the checkout stays as it is)."""
    work = tmp_path_factory.mktemp("sdk-build")
    source = work / "sdk-python"
    shutil.copytree(
        SDK, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".mypy_cache")
    )
    out = work / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=work, timeout=BUILD_TIMEOUT)
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return Built(wheel, sdist)


@pytest.fixture(scope="module")
def venv_python(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository holding the wheel and its dependencies (at the project's pinned versions,
    from the package index pip is configured with)."""
    venv = tmp_path_factory.mktemp("sdk-venv") / "venv"
    assert not venv.resolve().is_relative_to(REPO)
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent, timeout=INSTALL_TIMEOUT)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "-c", str(CONSTRAINTS), str(built.wheel)]
    _run(install, cwd=venv.parent, timeout=INSTALL_TIMEOUT)
    return python


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the repository holding the programs, so that nothing of the checkout is importable."""
    directory = tmp_path_factory.mktemp("sdk-programs")
    for name, path in PROGRAMS.items():
        shutil.copyfile(path, directory / name)
    (directory / "wrong_program.py").write_text(WRONG_PROGRAM, encoding="utf-8")
    return directory


def _run_program(python: Path, directory: Path, name: str, base_url: str) -> dict[str, Any]:
    output = _run(
        [str(python), name], cwd=directory, timeout=RUN_TIMEOUT, env=_clean_env(LEXICA_BASE_URL=base_url)
    ).strip()
    result: dict[str, Any] = json.loads(output)
    return result


def _wheel_metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    [name] = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_wheel_ships_the_package_with_its_license_and_typing_marker_and_no_tests(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        license_text = wheel.read(f"lexica_client-{__version__}.dist-info/licenses/LICENSE").decode()

    assert built.wheel.name == f"lexica_client-{__version__}-py3-none-any.whl"
    assert "lexica_client/py.typed" in names
    assert {"lexica_client/__init__.py", "lexica_client/realtime.py", "lexica_client/_api/client.py"} <= set(names)
    assert license_text == (SDK / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert [name for name in names if "tests/" in name or name.startswith(("tests", "test_"))] == []
    assert {name.split("/", 1)[0] for name in names} == {"lexica_client", f"lexica_client-{__version__}.dist-info"}


def test_wheel_metadata_has_the_version_license_readme_and_dependencies(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        metadata = _wheel_metadata(wheel)

    assert metadata["Name"] == "lexica-client"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload() == (SDK / "README.md").read_text(encoding="utf-8")
    requirements = {requirement.split("<")[0].split(">")[0] for requirement in metadata.get_all("Requires-Dist") or []}
    assert requirements == {"httpx", "attrs", "pydantic", "websockets"}


def test_sdist_holds_the_sources_license_readme_and_changelog(built: Built) -> None:
    root = f"lexica_client-{__version__}"
    with tarfile.open(built.sdist) as sdist:
        names = set(sdist.getnames())
        changelog = sdist.extractfile(f"{root}/CHANGELOG.md")
        assert changelog is not None
        changelog_text = changelog.read().decode()

    expected = {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "lexica_client/py.typed"}
    assert {f"{root}/{name}" for name in expected} <= names
    assert f"## [{__version__}]" in changelog_text


def test_sync_program_runs_against_a_live_server_with_only_the_installed_wheel(
    venv_python: Path, programs: Path, live_server: str
) -> None:
    seen = _run_program(venv_python, programs, "sync_program.py", live_server)

    assert Path(seen["module_file"]).is_relative_to(Path(seen["prefix"]))
    assert not Path(seen["module_file"]).resolve().is_relative_to(REPO)
    assert seen["version"] == seen["distribution_version"] == __version__
    assert seen["user_agent"] == f"lexica-client/{__version__} (python)"
    assert seen["headword"] == "apple"
    assert seen["definition"] == "The fleshy fruit of a rosaceous tree."
    assert seen["etag"].startswith('"1-')
    assert seen["not_modified"] is True
    assert seen["search_first"] == "apple"
    assert seen["first_page"] == ALL_HEADWORDS[:5]
    assert seen["walked"] == ALL_HEADWORDS
    error_class, status, request_id, is_lexica_error = seen["not_found"]
    assert (error_class, status, is_lexica_error) == ("NotFoundError", 404, True)
    assert request_id
    assert seen["invalid"] == [["query", "limit"]]


def test_async_program_runs_against_a_live_server_with_only_the_installed_wheel(
    venv_python: Path, programs: Path, live_server: str
) -> None:
    seen = _run_program(venv_python, programs, "async_program.py", live_server)

    assert seen["headword"] == "24/7"
    assert seen["not_modified"] is True
    assert seen["walked"] == [headword for headword in ALL_HEADWORDS if headword.lower().startswith("app")]
    assert seen["headwords"] == ALL_HEADWORDS
    assert seen["statuses"] == [200, 404]


def test_mypy_strict_passes_on_programs_using_the_installed_wheel_and_finds_mistakes(
    venv_python: Path, programs: Path
) -> None:
    """The repository's mypy with the fresh venv's packages only: the two programs pass, and the wrong one fails
    exactly where it is wrong (so the package's types were read, not taken as Any)."""
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--python-executable",
        str(venv_python),
        "--config-file",
        os.devnull,
        *PROGRAMS,
        "wrong_program.py",
    ]
    result = subprocess.run(
        command, cwd=programs, env=_clean_env(), capture_output=True, text=True, timeout=MYPY_TIMEOUT, check=False
    )

    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert {line.split(":", 2)[0] for line in errors} == {"wrong_program.py"}, result.stdout
    assert {int(line.split(":", 2)[1]) for line in errors} == WRONG_LINES, result.stdout
    assert result.returncode == 1
