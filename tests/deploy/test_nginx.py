"""deploy/nginx-dashboard.conf is valid nginx (`nginx -t`), and a real dashboard served through it gets
TLS, authentication before Streamlit, HSTS and anti-framing headers, and a working websocket upgrade.

nginx comes from Debian's package (scripts/ensure-services.sh installs it); the config's paths and
ports are swapped for a temporary certificate, password file and free ports, nothing else."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from data.db import make_engine
from data.migrate import upgrade
from tests.browser.test_dashboard_browser import _free_port, _wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx-dashboard.conf"
USER, PASSWORD = "ops", "proxy-password"

pytestmark = pytest.mark.services


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: run scripts/ensure-services.sh (it installs Debian's nginx)")
    return found


@dataclass(frozen=True)
class Proxy:
    config: Path
    https_port: int
    http_port: int


def _proxy_config(directory: Path, upstream_port: int) -> Proxy:
    """The deploy config with its certificate, password file and ports pointed at `directory`, wrapped in
    the smallest nginx.conf that runs unprivileged-style from a temporary folder."""
    crt, key = directory / "dashboard.crt", directory / "dashboard.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(f"{USER}:{hashed}\n")
    https_port, http_port = _free_port(), _free_port()
    text = CONF.read_text()
    replacements = {
        "/etc/ssl/payops/dashboard.crt": str(crt),
        "/etc/ssl/payops/dashboard.key": str(key),
        "/etc/nginx/payops-dashboard.htpasswd": str(htpasswd),
        "server 127.0.0.1:8501;": f"server 127.0.0.1:{upstream_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
    }
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {CONF.name}: update this test with it"
        text = text.replace(old, new)
    (directory / "payops-dashboard.conf").write_text(text)
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    main = directory / "nginx.conf"
    main.write_text(
        f"""
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory / "payops-dashboard.conf"};
}}
"""
    )
    return Proxy(main, https_port, http_port)


def test_the_dashboard_proxy_config_passes_nginx_t(tmp_path: Path) -> None:
    proxy = _proxy_config(tmp_path, 8501)
    result = subprocess.run(
        [_nginx(), "-t", "-c", str(proxy.config), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@dataclass(frozen=True)
class Served:
    url: str
    http_url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("nginx")
    database_url = f"sqlite:///{directory / 'payops.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    dashboard_port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PAYOPS_USERS_FILE": str(directory / "users.toml")}
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
         "--server.port", str(dashboard_port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    proxy = _proxy_config(directory, dashboard_port)
    nginx = subprocess.Popen(
        [_nginx(), "-c", str(proxy.config), "-p", str(directory), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{dashboard_port}/_stcore/health", dashboard)
        url = f"https://127.0.0.1:{proxy.https_port}"
        for _ in range(60):
            try:
                httpx.get(f"{url}/_stcore/health", verify=False, timeout=2)  # noqa: S501 - a self-signed test cert
                break
            except httpx.HTTPError:
                if nginx.poll() is not None:
                    raise RuntimeError((directory / "error.log").read_text()) from None
                subprocess.run(["sleep", "0.5"], check=True)
        yield Served(url, f"http://127.0.0.1:{proxy.http_port}")
    finally:
        for process in (nginx, dashboard):
            process.terminate()
            process.wait(timeout=30)


def _get(url: str, *, auth: bool = True) -> httpx.Response:
    return httpx.get(url, verify=False, timeout=10, auth=(USER, PASSWORD) if auth else None)  # noqa: S501


def test_the_proxy_asks_for_credentials_before_streamlit_sees_a_request(served: Served) -> None:
    assert _get(f"{served.url}/", auth=False).status_code == 401
    assert _get(f"{served.url}/api/session/start?grant=x", auth=False).status_code == 401
    assert _get(f"{served.url}/_stcore/health", auth=False).status_code == 200  # the probe only
    assert httpx.get(f"{served.http_url}/success-rates", timeout=10).status_code == 301  # to HTTPS


def test_the_proxy_sets_hsts_and_anti_framing_headers(served: Served) -> None:
    for path in ("/", "/success-rates?period=last_7_days", "/_stcore/health"):
        response = _get(f"{served.url}{path}")
        assert response.status_code == 200, path
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert response.headers.get_list("x-frame-options") == ["DENY"]
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_websocket_upgrades_through_the_proxy(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Origin: https://127.0.0.1:{port}\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: streamlit\r\n\r\n"
    )
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request.encode())
        status_line = tls.recv(4096).decode(errors="replace").splitlines()[0]
    assert status_line.startswith("HTTP/1.1 101"), status_line
