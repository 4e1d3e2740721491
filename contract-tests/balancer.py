"""nginx from Debian in front of API instances on loopback, with the directives of `deploy/nginx/lexica.conf`.

The repository's file is what compose.yaml's load balancer runs; here only its addresses change (the upstream
servers become loopback ports, `listen 80` a free port), so the directives under test are the deployed ones. The
access log names the instance that answered each request (`upstream=`), which the scale-out test reads to show
where event streams and WebSockets went.
"""

from __future__ import annotations

import os
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

REPOSITORY = Path(__file__).resolve().parent.parent
SITE_CONFIG = REPOSITORY / "deploy" / "nginx" / "lexica.conf"
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")

_MAIN_CONFIG = """\
# Written by contract-tests/balancer.py for one test run.
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{
    worker_connections 1024;
}}
http {{
    log_format upstreams '$request_method $uri $status upstream="$upstream_addr" upstream_status="$upstream_status" at=$msec';
    access_log {prefix}/access.log upstreams;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/lexica.conf;
}}
"""


def nginx_binary() -> str | None:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def site_config(upstream_ports: Sequence[int], listen_port: int) -> str:
    """`deploy/nginx/lexica.conf` with loopback addresses: its `server api-N:8000` lines become the given ports."""
    text = SITE_CONFIG.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server api-\d+:8000 .*;$", text, flags=re.MULTILINE)
    assert len(servers) == len(upstream_ports), f"{SITE_CONFIG} names {len(servers)} instances"
    for line, port in zip(servers, upstream_ports, strict=True):
        text = text.replace(line, re.sub(r"api-\d+:8000", f"127.0.0.1:{port}", line), 1)
    listen = re.findall(r"^\s*listen 80;$", text, flags=re.MULTILINE)
    assert len(listen) == 1, f"{SITE_CONFIG} should listen on port 80 once"
    return text.replace(listen[0], listen[0].replace("80", f"127.0.0.1:{listen_port}"), 1)


@dataclass
class Balancer:
    base_url: str
    prefix: Path

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def answering_instances(self, request: str) -> Counter[str]:
        """How many requests starting with `request` (method and path) each instance answered (the last one nginx
        tried, when it tried several)."""
        found: Counter[str] = Counter()
        for line in self.access_log():
            if line.startswith(request):
                tried = line.split(' upstream="', 1)[1].split('"', 1)[0]
                found[tried.split(", ")[-1]] += 1
        return found

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@contextmanager
def run_nginx(binary: str, prefix: Path, upstream_ports: Sequence[int], listen_port: int) -> Iterator[Balancer]:
    """nginx on `listen_port` in front of `upstream_ports`; the configuration is checked with `nginx -t` first."""
    prefix.mkdir(parents=True, exist_ok=True)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / temp).mkdir(exist_ok=True)
    (prefix / "lexica.conf").write_text(site_config(upstream_ports, listen_port), encoding="utf-8")
    # Run as root (CI), nginx's workers would switch to `nobody`, which cannot enter pytest's private temporary
    # directory: they keep root's identity for this loopback-only test.
    user = "user root;" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(_MAIN_CONFIG.format(prefix=prefix, user=user), encoding="utf-8")
    command = [binary, "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"nginx -t refused the configuration:\n{checked.stderr}"
    with (prefix / "nginx.out").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    balancer = Balancer(f"http://127.0.0.1:{listen_port}", prefix)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}:\n{balancer.error_log()}", pytrace=False)
            try:
                httpx.get(f"{balancer.base_url}/health/live", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen in 10 s:\n{balancer.error_log()}", pytrace=False)
                time.sleep(0.05)
        yield balancer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
