"""compose.yaml, the Dockerfile and the configuration files they mount say only what is true of this project:
settings that exist, commands the CLI has, files that are in the repository, a Prometheus configuration promtool
accepts. (No Docker engine runs here; `docker compose config` is run where the CLI exists.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from lexica.cli import app
from lexica.settings import Settings
from tests.ops.promtool import debian_tool, promtool

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
SETTINGS = {f"LEXICA_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def _lexica_commands() -> set[str]:
    """Every `lexica …` command line the CLI has, as words: `serve`, `db upgrade`, `import gcide`, …"""
    found = set()
    root = get_command(app)
    for name, command in getattr(root, "commands", {}).items():
        found.add(name)
        for sub in getattr(command, "commands", {}):
            found.add(f"{name} {sub}")
    return found


def test_every_setting_compose_sets_exists() -> None:
    for name, service in _compose()["services"].items():
        environment = service.get("environment", {})
        unknown = sorted(key for key in environment if key.startswith("LEXICA_") and key not in SETTINGS)
        assert not unknown, f"{name} sets settings Lexica does not have: {unknown}"


def test_every_lexica_command_compose_runs_exists() -> None:
    commands = _lexica_commands()
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if command is None:
            continue
        text = " ".join(command) if isinstance(command, list) else command
        for use in re.findall(r"\blexica ((?:[a-z]+)(?: [a-z]+)?)", text):
            words = use.split()
            assert use in commands or words[0] in commands, f"{name} runs `lexica {use}`, which the CLI lacks"


def test_every_file_compose_mounts_is_in_the_repository() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name} mounts {source}, which does not exist"


def test_the_image_runs_the_server_and_the_worker_from_one_build() -> None:
    services = _compose()["services"]
    images = {services[name].get("image") for name in ("api-1", "api-2", "api-3", "worker", "setup")}
    assert images == {"lexica:local"}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["lexica", "serve"]' in dockerfile


def test_the_prometheus_configuration_is_valid() -> None:
    directory = ROOT / "deploy" / "prometheus"
    finished = subprocess.run(
        [promtool(), "check", "config", "prometheus.yml"], cwd=directory, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_compose_config_where_the_docker_cli_exists() -> None:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60, check=False)
    if docker is None or not plugin or plugin.returncode != 0:
        pytest.skip("no `docker compose` on this machine: compose.yaml is checked by the tests above only")
    finished = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={**os.environ, "LEXICA_SECRET_KEY": "x" * 64},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr


def test_the_load_balancer_configuration_is_valid_and_mounted() -> None:
    """compose.yaml's balancer runs deploy/haproxy/haproxy.cfg, and HAProxy accepts it as it is (the instances'
    names need not resolve yet: it starts without them). The live scale-out test runs the same file."""
    config = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
    balancer = _compose()["services"]["lb"]
    assert f"./{config.relative_to(ROOT)}:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    checked = subprocess.run(
        [debian_tool("haproxy", "haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
