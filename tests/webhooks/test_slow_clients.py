"""Issue 16.10: slow clients must not starve the edge.

40 sockets that send one header line every 5 s held every gunicorn thread (2 workers x 4
threads) and /healthz timed out. The deployment puts the buffering nginx of
deploy/nginx.conf (shipped in compose.yaml) in front; this runs that very file against a
real `connector serve` on loopback and requires /healthz to answer throughout. Bounded: 40
sockets, about 12 s.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from tests.webhooks.servers import connector_serve
from tests.webhooks.servers import get
from tests.webhooks.servers import nginx_binary
from tests.webhooks.servers import nginx_in_front
from tests.webhooks.servers import prepare

SLOW_CLIENTS = 40
LINE_EVERY = 5.0  # seconds, as in the finding
DURATION = 12.0


@pytest.fixture
def edge_behind_nginx(tmp_path, monkeypatch):
    if nginx_binary() is None:
        pytest.skip("no nginx: apt-get install nginx-light, or set CONNECTOR_TEST_NGINX")
    environ = prepare(tmp_path, monkeypatch)
    with (
        connector_serve(tmp_path, environ) as served,
        nginx_in_front(tmp_path, served.port) as port,
    ):
        yield port


def _slow_sockets(port: int) -> list[socket.socket]:
    sockets = []
    for _ in range(SLOW_CLIENTS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /webhooks/x/stripe HTTP/1.1\r\nHost: edge\r\n")
        sockets.append(s)
    return sockets


def _one_more_line(sockets: list[socket.socket]) -> None:
    for s in sockets:
        # The proxy may already have given up on it (408): that is fine.
        with contextlib.suppress(OSError):
            s.sendall(b"X-Slow: 1\r\n")


def test_health_answers_under_40_slow_clients(edge_behind_nginx):
    port = edge_behind_nginx
    sockets = _slow_sockets(port)
    try:
        started = time.monotonic()
        next_line = started + LINE_EVERY
        answers = []
        while time.monotonic() - started < DURATION:
            if time.monotonic() >= next_line:
                _one_more_line(sockets)
                next_line += LINE_EVERY
            asked = time.perf_counter()
            status = get(port, "/healthz", timeout=2.0)
            answers.append((status, time.perf_counter() - asked))
            time.sleep(0.25)
    finally:
        for s in sockets:
            s.close()
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} health checks failed: {failed[:5]}"
    assert max(t for _s, t in answers) < 1.0
