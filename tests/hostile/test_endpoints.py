"""The standing hostile-input suite for the HTTP edge (issue 16, acceptance).

A real `connector serve` (gunicorn, as deployed) on loopback gets, at every endpoint,
oversized, chunked, malformed and deeply nested bodies and broken framing, and must answer
each with a 4xx within the client's timeout (a validly signed but unusable Stripe body: 200,
kept as rejected); behind the shipped nginx
(deploy/nginx.conf, when an nginx binary is there) slow bodies and headers as well. A
thread asks /healthz every 0.2 s throughout and every answer must come within a second.

Fixtures are named hostile_edge_* (tests/hostile holds another suite: no conftest here).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

import pytest

from tests.webhooks.servers import STRIPE_SECRET
from tests.webhooks.servers import connector_serve
from tests.webhooks.servers import get
from tests.webhooks.servers import nginx_binary
from tests.webhooks.servers import nginx_in_front
from tests.webhooks.servers import prepare

LIMIT = 1024 * 1024
TIMEOUT = 10.0  # what a client (a provider) waits for an answer
PROVIDERS = ("stripe", "mollie", "buckaroo", "adyen")
LEDGERS = ("moneybird", "exact")
OTHER_SECRETS = {
    "mollie": "hostile-mollie-signing-secret",
    "buckaroo": "hostile-buckaroo-secret",
    "adyen": "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
    "moneybird": "hostile-moneybird-token",
    "exact": "hostile-exact-secret",
}


@dataclass
class HealthWatch:
    """/healthz every 0.2 s in a thread; every answer must be 200 within a second."""

    port: int
    answers: list[tuple[int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            status = get(self.port, "/healthz", timeout=1.0)
            self.answers.append((status, time.perf_counter() - started))
            self._stop.wait(0.2)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(5)
        failed = [a for a in self.answers if a[0] != 200]
        assert self.answers and not failed, f"/healthz failed {len(failed)} times: {failed[:5]}"


@dataclass(frozen=True)
class Target:
    port: int
    token: str


@pytest.fixture(scope="module")
def hostile_edge_server(tmp_path_factory) -> Iterator[tuple[Target, int | None]]:
    """`connector serve` with a tenant that has a secret for every provider and ledger,
    and the shipped nginx in front when there is an nginx (else None)."""
    tmp_path = tmp_path_factory.mktemp("hostile-edge")
    with pytest.MonkeyPatch.context() as monkeypatch:
        environ = prepare(tmp_path, monkeypatch, OTHER_SECRETS)
    with connector_serve(tmp_path, environ) as served:
        target = Target(served.port, served.token)
        if nginx_binary() is None:
            yield target, None
            return
        with nginx_in_front(tmp_path, served.port) as proxy:
            yield target, proxy


def endpoints(token: str) -> list[tuple[str, str]]:
    """Every endpoint of the edge with the method it takes, real tenant and unknown one."""
    paths = [("POST", f"/webhooks/{token}/{p}") for p in PROVIDERS]
    paths += [("POST", f"/webhooks/not-a-token/{p}") for p in PROVIDERS[:1]]
    paths += [("POST", f"/ledger-webhooks/{token}/{ledger}") for ledger in LEDGERS]
    # Endpoints without a body get the bodies by POST (405) and by GET below.
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        paths.append(("POST", path))
    paths += [("POST", "/exact/start"), ("POST", "/exact/callback")]
    return paths


# --- raw HTTP, so that framing can be as broken as an attacker likes ---------------------


def exchange(port: int, head: bytes, pieces: list[bytes], pause: float = 0.0) -> int:
    """Send `head` then `pieces` (pausing between them), return the answer's status; 0 if
    none came within TIMEOUT. A server that answers early and closes is fine: the answer
    it sent is read even when our sending was cut off."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        try:
            s.sendall(head)
            for piece in pieces:
                if pause:
                    time.sleep(pause)
                s.sendall(piece)
        except OSError:
            pass  # the server answered and closed: read what it said
        try:
            s.settimeout(TIMEOUT)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return 0
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


def head_for(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stripe_signature(body: bytes) -> str:
    t = int(time.time())
    sig = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"


def chunked(body: bytes, size: int = 64 * 1024) -> list[bytes]:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return [*parts, b"0\r\n\r\n"]


NESTED = b"[" * 100_000 + b"]" * 100_000
NESTED_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


def attacks(path: str) -> list[tuple[str, bytes, list[bytes], dict[str, str]]]:
    """(name, head extras, body pieces, headers) for one endpoint."""
    big = b"x" * (LIMIT + 1)
    event = json.dumps({"id": "evt_hostile", "object": "event", "type": "payment_intent.succeeded"})
    signed_cut = event.encode() + b" " * (LIMIT - len(event))
    return [
        ("oversized", b"", [big], {"Content-Length": str(len(big))}),
        ("oversized, chunked", b"", chunked(big), {"Transfer-Encoding": "chunked"}),
        (
            "signed first MiB plus junk, chunked",
            b"",
            chunked(signed_cut + b"junk"),
            {"Transfer-Encoding": "chunked", "Stripe-Signature": stripe_signature(signed_cut)},
        ),
        ("not JSON", b"", [b"\xff\xfe{=&%"], {"Content-Length": "6"}),
        (
            "deeply nested array, signed",
            b"",
            [NESTED],
            {
                "Content-Length": str(len(NESTED)),
                "Stripe-Signature": stripe_signature(NESTED),
                "Content-Type": "application/json",
            },
        ),
        (
            "deeply nested object",
            b"",
            [NESTED_OBJECT],
            {"Content-Length": str(len(NESTED_OBJECT)), "Content-Type": "application/json"},
        ),
        (
            "nested form",
            b"",
            [b"id=" + b"%5B" * 20_000],
            {
                "Content-Length": str(3 + 3 * 20_000),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ),
        ("content-length not a number", b"", [b"{}"], {"Content-Length": "abc"}),
        ("two content-lengths", b"", [b"{}"], {"Content-Length": "2\r\nContent-Length: 9"}),
        ("broken chunk size", b"", [b"zz\r\n{}\r\n0\r\n\r\n"], {"Transfer-Encoding": "chunked"}),
    ]


def _attack_all(port: int, token: str) -> list[str]:
    problems = []
    for method, path in endpoints(token):
        for name, _extra, pieces, headers in attacks(path):
            started = time.perf_counter()
            status = exchange(port, head_for(method, path, headers), pieces)
            took = time.perf_counter() - started
            if name.endswith(", signed") and path.endswith("/stripe"):
                # Genuinely signed but unusable: at the tenant's address kept as rejected and
                # acknowledged (200), so Stripe stops retrying the same bytes (issue 16.9);
                # elsewhere a 4xx. Never a 5xx.
                expected = 200 if token in path else None
                ok = status == expected if expected else 400 <= status < 500
                if not ok or took > TIMEOUT:
                    problems.append(f"{method} stripe {name}: {status} in {took:.1f} s")
                continue
            if not 400 <= status < 500 or took > TIMEOUT:
                problems.append(f"{method} {path.split('/')[-1]} {name}: {status} in {took:.1f} s")
    return problems


def test_every_endpoint_answers_hostile_bodies_with_4xx(hostile_edge_server):
    target, _proxy = hostile_edge_server
    watch = HealthWatch(target.port)
    with watch.watching():
        problems = _attack_all(target.port, target.token)
    assert not problems, "\n".join(problems)


def test_every_endpoint_behind_the_proxy_answers_4xx(hostile_edge_server):
    target, proxy = hostile_edge_server
    if proxy is None:
        pytest.skip("no nginx: apt-get install nginx-light, or set CONNECTOR_TEST_NGINX")
    watch = HealthWatch(proxy)
    with watch.watching():
        problems = _attack_all(proxy, target.token)
    assert not problems, "\n".join(problems)


def test_slow_bodies_and_headers_behind_the_proxy(hostile_edge_server):
    """Slow senders are cut off by the proxy (408 or a closed connection) within its 10 s
    timeouts; meanwhile the health check answers. 40 at once, every endpoint among them."""
    target, proxy = hostile_edge_server
    if proxy is None:
        pytest.skip("no nginx: apt-get install nginx-light, or set CONNECTOR_TEST_NGINX")
    results: list[tuple[str, int, float]] = []
    paths = endpoints(target.token)

    def slow(n: int) -> None:
        method, path = paths[n % len(paths)]
        started = time.perf_counter()
        if n % 2:  # a body at one byte per 3 s
            head = head_for(method, path, {"Content-Length": "100"})
            status = exchange(proxy, head, [b"{"] * 6, pause=3.0)
        else:  # a header line every 3 s
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode()
            status = exchange(proxy, head, [b"X-Slow: 1\r\n"] * 6, pause=3.0)
        results.append((f"{method} {path}", status, time.perf_counter() - started))

    watch = HealthWatch(proxy)
    with watch.watching():
        threads = [threading.Thread(target=slow, args=(n,)) for n in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    # nginx answers a slow body with 408 or closes a slow header without a word (0).
    bad = [r for r in results if r[1] not in (0, 408) or r[2] > 35]
    assert len(results) == 40 and not bad, bad[:5]
