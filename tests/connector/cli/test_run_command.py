"""`connector run`: the scheduler and the HTTP app in one process, as the container runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from connector.store import Store


def test_run_serves_http_and_syncs_then_stops_on_sigterm(tmp_path):
    folder = tmp_path / "exports" / "acme"
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,12.50\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'connector.db'}"
    env = {**os.environ, "CONNECTOR_DATABASE_URL": url}
    env.pop("CONNECTOR_SECRET_KEY", None)
    exe = str(Path(sys.executable).parent / "connector")
    subprocess.run([exe, "init"], env=env, cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(
        [exe, "connect", "files", "--path", str(folder)],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [exe, "run", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        health = synced = None
        store = Store(url)
        while time.monotonic() < deadline and not (health == 200 and synced):
            with contextlib.suppress(requests.ConnectionError):
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            with store.begin() as conn:
                synced = conn.exec_driver_sql("SELECT count(*) FROM open_items").scalar()
            time.sleep(0.2)
        store.dispose()
        assert health == 200 and synced == 1  # HTTP up and the sync job ran at start
        webhook = requests.post(f"http://127.0.0.1:{port}/webhooks/x/stripe", data=b"{}", timeout=5)
        assert webhook.status_code == 404  # no key: webhooks are off, not a 500
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err[-500:]
    assert b"webhooks are switched off" in err
