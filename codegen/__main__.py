"""`python -m codegen`: regenerate every generated file from the specs (what `make generate` runs)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from codegen import python_server
from codegen.spec import bundled_json, load_document, operations

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "lexica.yaml"
SERVER_OUT = ROOT / "server" / "lexica" / "_generated"
SDK_OUT = ROOT / "sdk-python" / "lexica_client" / "_api"
HEADER = (Path(__file__).parent / "templates" / "header.j2").read_text(encoding="utf-8").strip()


def _tool(name: str) -> str:
    """A console script installed next to this interpreter (the project's pinned venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


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
            "--custom-file-header",
            HEADER,
            "--enum-field-as-literal",
            "none",
            "--capitalise-enum-members",
            "--formatters",
            "builtin",
        ],
        check=True,
        env=_env(),
    )


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
    SERVER_OUT.mkdir(parents=True, exist_ok=True)
    bundle = SERVER_OUT / "openapi.json"
    bundle.write_text(bundled_json(document), encoding="utf-8")
    (SERVER_OUT / "__init__.py").write_text(f"{HEADER}\n", encoding="utf-8")
    generate_models(bundle, SERVER_OUT / "models.py")
    for name, content in python_server.render(list(operations(document))).items():
        (SERVER_OUT / name).write_text(content, encoding="utf-8")
    generate_sdk(bundle, SDK_OUT)
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            _tool("ruff"),
            "format",
            "--quiet",
            str(SERVER_OUT / "interfaces.py"),
            str(SERVER_OUT / "routes.py"),
        ],
        check=True,
        env=_env(),
    )
    outputs = f"{SERVER_OUT.relative_to(ROOT)} and {SDK_OUT.relative_to(ROOT)}"
    print(f"generated {outputs} from {SPEC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
