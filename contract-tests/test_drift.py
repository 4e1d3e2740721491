"""Drift: committed generated code equals a fresh `make generate`, and the app serves exactly the spec."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from starlette.routing import Route, WebSocketRoute

from lexica._generated.routes import OPERATIONS
from lexica.app import create_app
from lexica.platform.docs import DOC_PATHS
from lexica.platform.pages import PAGE_PATHS
from lexica.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path("server/lexica/_generated/events.py")
SDK_EVENTS = Path("sdk-python/lexica_client/events.py")
GENERATED = (Path("server/lexica/_generated"), Path("sdk-python/lexica_client/_api"), SDK_EVENTS)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _tree(root: Path, relative: Path) -> dict[str, bytes]:
    base = root / relative
    if base.is_file():
        return {base.name: base.read_bytes()}
    return {
        str(path.relative_to(base)): path.read_bytes()
        for path in sorted(base.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".ruff_cache" not in path.parts
    }


def _generate_into(target: Path) -> None:
    for folder in ("openapi", "asyncapi", "codegen"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")  # formatter settings (line length)
    subprocess.run([sys.executable, "-m", "codegen"], cwd=target, check=True, capture_output=True)


def test_committed_generated_files_equal_a_fresh_generation(tmp_path: Path) -> None:
    _generate_into(tmp_path)
    for relative in GENERATED:
        fresh, committed = _tree(tmp_path, relative), _tree(ROOT, relative)
        assert sorted(fresh) == sorted(committed), f"{relative}: file sets differ; run `make generate`"
        stale = [name for name in fresh if fresh[name] != committed[name]]
        assert not stale, f"{relative}: {stale} differ from a fresh `make generate`; run it and commit"


def test_server_and_sdk_share_one_events_module() -> None:
    assert (ROOT / SDK_EVENTS).read_bytes() == (ROOT / EVENTS).read_bytes()


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _generate_into(first)
    _generate_into(second)
    for relative in GENERATED:
        assert _tree(first, relative) == _tree(second, relative)


def _spec_operations() -> set[tuple[str, str]]:
    document = yaml.safe_load((ROOT / "openapi" / "lexica.yaml").read_text(encoding="utf-8"))
    return {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }


def _routes() -> list[object]:
    return list(create_app(Settings(environment="test", tune_gc=False)).routes)


def _served_operations() -> set[tuple[str, str]]:
    operation_ids = {operation.operation_id for operation in OPERATIONS}
    served = set()
    for route in _routes():
        if isinstance(route, WebSocketRoute):
            continue  # an AsyncAPI channel, checked below
        assert isinstance(route, Route), f"unexpected route {route}"
        if route.path in DOC_PATHS | PAGE_PATHS:
            continue
        assert route.name in operation_ids, f"route {route.path} is not bound to an operation of the spec"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        served |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return served


def test_app_serves_exactly_the_operations_of_the_spec() -> None:
    spec, served = _spec_operations(), _served_operations()
    assert served - spec == set(), "routes without an operation in the spec"
    assert spec - served == set(), "operations of the spec without a route"


def test_app_serves_exactly_the_websocket_channels_of_the_asyncapi_spec() -> None:
    document = yaml.safe_load((ROOT / "asyncapi" / "lexica.yaml").read_text(encoding="utf-8"))
    channels = {channel["address"] for channel in document["channels"].values() if "ws" in channel.get("bindings", {})}
    served = {route.path for route in _routes() if isinstance(route, WebSocketRoute)}
    assert served == channels
