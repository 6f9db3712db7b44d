"""Real servers on loopback for the edge's tests: `connector serve` under gunicorn, and the
shipped nginx configuration (deploy/nginx.conf) in front of it.

Not fixtures (tests/hostile shares a folder with another engineer's suite): plain context
managers, so each test module makes its own fixture with a name of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.cli import main

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX_ENV = "CONNECTOR_TEST_NGINX"  # path of an nginx binary when it is not on PATH
STRIPE_SECRET = "whsec_served_edge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str | None:
    return os.environ.get(NGINX_ENV) or shutil.which("nginx")


def get(port: int, path: str, timeout: float = 2.0) -> int:
    """Status of a GET, or 0 when it does not answer within `timeout`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _wait(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"server exited with {process.returncode}"
            raise RuntimeError(msg)
        if get(port, "/healthz", timeout=1.0) == 200:
            return
        time.sleep(0.2)
    msg = f"server on port {port} did not answer /healthz in {seconds} s"
    raise RuntimeError(msg)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass(frozen=True)
class Served:
    port: int
    token: str  # the endpoint "acme"'s address token (Stripe secret STRIPE_SECRET)
    environ: dict[str, str]


def prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str] | None = None
) -> dict[str, str]:
    """A store in tmp_path with one endpoint "acme", a Stripe secret and `secrets` (name:
    value) for other providers or ledgers; returns the environment (TOKEN: the address)."""
    environ = {
        "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "CONNECTOR_SECRET_KEY": Fernet.generate_key().decode(),
        "SERVED_SECRET": STRIPE_SECRET,
    }
    monkeypatch.chdir(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "exports" / "acme"  # the files ledger names it after its folder
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,125.00\n"
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["init"])
        main(["connect", "files", "--name", "acme", "--path", str(folder)])
        main(["sync"])
        out.seek(0)
        out.truncate()
        main(["webhooks", "create-endpoint", "acme", "--administration", "acme"])
        environ["TOKEN"] = out.getvalue().split("/webhooks/")[1].split("/")[0]
        main(["webhooks", "set-secret", "acme", "stripe", "--from-env", "SERVED_SECRET"])
        for name, value in (secrets or {}).items():
            monkeypatch.setenv("SERVED_OTHER_SECRET", value)
            main(["webhooks", "set-secret", "acme", name, "--from-env", "SERVED_OTHER_SECRET"])
    return environ


@contextlib.contextmanager
def connector_serve(
    tmp_path: Path, environ: dict[str, str], *, workers: int = 2, threads: int = 4
) -> Iterator[Served]:
    """`connector serve` on a loopback port, as deployed (gunicorn gthread)."""
    port = free_port()
    env = {**os.environ, **environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        [
            sys.executable,
            "-c",
            "from connector.cli import main; main()",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(port, process)
        yield Served(port, environ["TOKEN"], environ)
    finally:
        _stop(process)
        log.close()


@contextlib.contextmanager
def nginx_in_front(tmp_path: Path, upstream_port: int) -> Iterator[int]:
    """The shipped deploy/nginx.conf on a loopback port, proxying to `upstream_port`."""
    binary = nginx_binary()
    assert binary is not None
    port = free_port()
    prefix = tmp_path / f"nginx-{port}"
    prefix.mkdir()
    text = NGINX_CONF.read_text()
    replaced = {
        "server connector:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "pid /tmp/nginx.pid;": f"pid {prefix / 'nginx.pid'};",
    }
    for old, new in replaced.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    # Temporary files in the test's folder (the package's default paths may not exist).
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp, 1)
    if os.geteuid() == 0:  # workers would run as nobody, without access to tmp_path
        text = "user root;\n" + text
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    log = (prefix / "out.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - a test binary chosen by the developer
        [binary, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(port, process)
        yield port
    finally:
        _stop(process)
        log.close()
