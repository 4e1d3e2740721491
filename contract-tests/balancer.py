"""HAProxy from Debian in front of API instances on loopback, running `deploy/haproxy/haproxy.cfg`.

The repository's file is what compose.yaml's load balancer runs; here only its addresses change (the `server api-N
api-N:8000` lines point at loopback ports, `bind :80` at a free port), so the directives under test are the deployed
ones. Its log (one line per request: method, path, status, the instance that answered, the retries) goes to a file
that the scale-out test reads to show where event streams and WebSockets went.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.services import stop

REPOSITORY = Path(__file__).resolve().parent.parent
CONFIG = REPOSITORY / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY_CANDIDATES = ("haproxy", "/usr/sbin/haproxy")


def haproxy_binary() -> str | None:
    for candidate in HAPROXY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def loopback_config(instance_ports: Sequence[int], listen_port: int) -> str:
    """`deploy/haproxy/haproxy.cfg` with loopback addresses: instance N at the Nth port, the frontend on
    `listen_port`."""
    text = CONFIG.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server (api-\d+) api-\d+:8000$", text, flags=re.MULTILINE)
    assert len(servers) == len(instance_ports), f"{CONFIG} names {len(servers)} instances"
    for name, port in zip(servers, instance_ports, strict=True):
        text = re.sub(rf"^(\s*server {name}) {name}:8000$", rf"\1 127.0.0.1:{port}", text, count=1, flags=re.MULTILINE)
    binds = re.findall(r"^\s*bind :80$", text, flags=re.MULTILINE)
    assert len(binds) == 1, f"{CONFIG} should bind port 80 once"
    return text.replace(binds[0], binds[0].replace(":80", f"127.0.0.1:{listen_port}"), 1)


@dataclass
class Balancer:
    base_url: str
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def answering_instances(self, request: str) -> Counter[str]:
        """How many requests starting with `request` (method and path) each instance answered."""
        found: Counter[str] = Counter()
        for line in self.log_lines():
            if line.startswith(request):
                found[line.split(" server=", 1)[1].split(" ", 1)[0]] += 1
        return found


@contextmanager
def run_haproxy(binary: str, workdir: Path, instance_ports: Sequence[int], listen_port: int) -> Iterator[Balancer]:
    """HAProxy on `listen_port` in front of `instance_ports`; the configuration is checked (`haproxy -c`) first."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "haproxy.cfg"
    config.write_text(loopback_config(instance_ports, listen_port), encoding="utf-8")
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"haproxy -c refused the configuration:\n{checked.stdout}{checked.stderr}"
    balancer = Balancer(f"http://127.0.0.1:{listen_port}", workdir / "haproxy.log")
    with balancer.log_path.open("wb") as log:
        process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"haproxy exited with {process.returncode}:\n{balancer.log_path.read_text()}")
            try:
                if httpx.get(f"{balancer.base_url}/health/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"haproxy found no ready instance in 10 s:\n{balancer.log_path.read_text()}")
            time.sleep(0.05)
        yield balancer
    finally:
        stop(process)
