"""`python -m codegen`: regenerate every generated file from the specs (what `make generate` runs)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from codegen import python_sdk, python_server
from codegen.asyncapi import events_json_schema, load_asyncapi, render_unions
from codegen.spec import bundled_json, load_document, operations

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "lexica.yaml"
EVENTS_SPEC = ROOT / "asyncapi" / "lexica.yaml"
SERVER_OUT = ROOT / "server" / "lexica" / "_generated"
SDK_OUT = ROOT / "sdk-python" / "lexica_client" / "_api"
SDK_RESOURCES_OUT = ROOT / "sdk-python" / "lexica_client" / "resources.py"
EVENTS_OUT = (SERVER_OUT / "events.py", ROOT / "sdk-python" / "lexica_client" / "events.py")


def _header(source: Path) -> str:
    template = jinja2.Template((Path(__file__).parent / "templates" / "header.j2").read_text(encoding="utf-8"))
    header: str = template.render(source=source.relative_to(ROOT).as_posix())
    return header.strip()


HEADER = _header(SPEC)


def _tool(name: str) -> str:
    """A console script installed next to this interpreter (the project's pinned venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# The options the OpenAPI models and the AsyncAPI message models share.
_MODEL_OPTIONS = (
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--target-python-version",
    "3.11",
    "--use-annotated",
    "--field-constraints",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-schema-description",
    "--use-double-quotes",
    "--disable-timestamp",
    "--enum-field-as-literal",
    "none",
    "--capitalise-enum-members",
    "--formatters",
    "builtin",
)


def generate_models(bundle: Path, target: Path) -> None:
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            _tool("datamodel-codegen"),
            "--input",
            str(bundle),
            "--input-file-type",
            "openapi",
            "--output",
            str(target),
            *_MODEL_OPTIONS,
            "--custom-file-header",
            HEADER,
        ],
        check=True,
        env=_env(),
    )


def generate_events(document: Mapping[str, Any], target: Path) -> None:
    """The AsyncAPI payload schemas as Pydantic models, in one module that the server and the SDK share.

    Named scalar schemas are inlined into the fields that use them (`--collapse-root-models`), so fields are
    plain `str` and `int` with their constraints; `const` becomes `Literal`, which the unions discriminate on.
    Each discriminated `oneOf` is a root model, and is also written as a plain annotated union (`<Name>Union`)
    for `pydantic.TypeAdapter`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "events.schema.json"
        bundle.write_text(events_json_schema(document), encoding="utf-8")
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                _tool("datamodel-codegen"),
                "--input",
                str(bundle),
                "--input-file-type",
                "jsonschema",
                "--output",
                str(target),
                *_MODEL_OPTIONS,
                "--custom-file-header",
                _header(EVENTS_SPEC),
                "--skip-root-model",
                "--collapse-root-models",
            ],
            check=True,
            env=_env(),
        )
    with target.open("a", encoding="utf-8") as module:
        module.write(render_unions(document))


def generate_sdk(bundle: Path, target: Path) -> None:
    config = Path(__file__).parent / "openapi-python-client.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "_api"
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                _tool("openapi-python-client"),
                "generate",
                "--path",
                str(bundle),
                "--meta",
                "none",
                "--config",
                str(config),
                "--output-path",
                str(out),
                "--fail-on-warning",
            ],
            check=True,
            env=_env(),
            cwd=tmp,
        )
        for source in sorted(out.rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            source.write_text(f"{HEADER}\n{text}", encoding="utf-8")
        (out / "py.typed").touch()
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(out, target, ignore=shutil.ignore_patterns(".ruff_cache", "__pycache__"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    document = load_document(SPEC)
    events_document = load_asyncapi(EVENTS_SPEC)
    SERVER_OUT.mkdir(parents=True, exist_ok=True)
    bundle = SERVER_OUT / "openapi.json"
    bundle.write_text(bundled_json(document), encoding="utf-8")
    # The AsyncAPI document as the server serves it (/asyncapi.json, and the /asyncapi page renders it).
    (SERVER_OUT / "asyncapi.json").write_text(bundled_json(events_document), encoding="utf-8")
    (SERVER_OUT / "__init__.py").write_text(f"{HEADER}\n", encoding="utf-8")
    generate_models(bundle, SERVER_OUT / "models.py")
    for name, content in python_server.render(list(operations(document))).items():
        (SERVER_OUT / name).write_text(content, encoding="utf-8")
    generate_sdk(bundle, SDK_OUT)
    SDK_RESOURCES_OUT.write_text(python_sdk.render(document, operations(document), HEADER), encoding="utf-8")
    events, sdk_events = EVENTS_OUT
    generate_events(events_document, events)
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [_tool("ruff"), "check", "--quiet", "--fix", "--select", "I", str(SDK_RESOURCES_OUT)],
        check=True,
        env=_env(),
    )
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            _tool("ruff"),
            "format",
            "--quiet",
            str(SERVER_OUT / "interfaces.py"),
            str(SERVER_OUT / "routes.py"),
            str(events),
            str(SDK_RESOURCES_OUT),
        ],
        check=True,
        env=_env(),
    )
    # The SDK gets the very same module: server and clients parse events with the same models.
    sdk_events.parent.mkdir(parents=True, exist_ok=True)
    sdk_events.write_bytes(events.read_bytes())
    outputs = (
        f"{SERVER_OUT.relative_to(ROOT)}, {SDK_OUT.relative_to(ROOT)}, {SDK_RESOURCES_OUT.relative_to(ROOT)} "
        f"and {sdk_events.relative_to(ROOT)}"
    )
    print(f"generated {outputs} from {SPEC.relative_to(ROOT)} and {EVENTS_SPEC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
