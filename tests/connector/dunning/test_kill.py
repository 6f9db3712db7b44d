"""The kill test: a dunning run killed at random points while sending, ten times, then resumed.

Messages are counted at a real SMTP server on 127.0.0.1 (aiosmtpd). No letter may arrive
twice; every planned letter ends sent or uncertain (none lost), and the uncertain ones are
listed for a person.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from connector.cli import main
from connector.demo import materialize
from connector.demo import sender_config_toml

RUN_DATE = date(2026, 3, 2)


class Recorder:
    """Counts delivered messages by their dunning key; slow enough to be killed mid-run."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        import asyncio

        await asyncio.sleep(0.01)
        message = message_from_bytes(envelope.original_content or envelope.content)
        self.keys.append(message["X-Dunning-Key"])
        return "250 OK"


@pytest.fixture
def smtp():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


def test_killed_runs_never_send_twice_and_lose_nothing(
    store_url, tmp_path, monkeypatch, smtp, capsys
):
    recorder, port = smtp
    monkeypatch.chdir(tmp_path)
    (tmp_path / "connector.toml").write_text(
        f'[channels.email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "plain"\n'
        'from_address = "debiteuren@example.nl"\ntimeout = 10\n\n'
        '[channels.letter]\nfolder = "print-queue"\n\n' + sender_config_toml()
    )
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": store_url,
        "CONNECTOR_CONFIG": str(tmp_path / "connector.toml"),
    }
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    folder = materialize(tmp_path / "data", RUN_DATE)
    main(["connect", "files", "--name", "demo", "--path", str(folder)])
    main(["sync"])
    exe = str(Path(sys.executable).parent / "connector")
    command = [exe, "dunning", "run", "--date", RUN_DATE.isoformat()]
    rng = random.Random(7)
    killed = 0
    for _ in range(10):
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.3, 2.5))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            killed += 1
        process.wait(timeout=30)
    for _ in range(2):  # resumed, to the end; a second complete run adds nothing
        done = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode in (0, 1), done.stderr
    assert killed >= 5  # the runs really were interrupted while sending

    counts = Counter(recorder.keys)
    assert counts and max(counts.values()) == 1, counts.most_common(3)  # never twice

    capsys.readouterr()
    main(["dunning", "history", "--json"])
    actions = json.loads(capsys.readouterr().out)
    by_status = Counter(a["status"] for a in actions)
    assert set(by_status) <= {"sent", "uncertain"}, by_status  # none pending, none lost
    emailed = {a["key"] for a in actions if "email" in a["channels"]}
    sent = {a["key"] for a in actions if a["status"] == "sent"}
    uncertain = {a["key"] for a in actions if a["status"] == "uncertain"}
    assert emailed & sent <= set(counts)  # every e-mail marked sent did arrive
    assert set(counts) <= sent | uncertain  # nothing arrived that the store does not know
    if uncertain:  # the uncertain ones are listed for a person
        capsys.readouterr()
        main(["dunning", "history", "--status", "uncertain", "--json"])
        listed = {a["key"] for a in json.loads(capsys.readouterr().out)}
        assert listed == uncertain


def test_a_killed_runs_lock_is_taken_over_at_once_a_live_one_is_not(store):
    import socket
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from connector.domain import Administration
    from connector.dunning import store as dstore
    from connector.store import records

    now = datetime(2026, 3, 2, tzinfo=UTC)
    with store.begin() as conn:
        c = records.save_connection(conn, name="f", ledger="files", config={}, now=now)
        [admin] = records.save_administrations(conn, c.id, [Administration("a", "A")])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = timedelta(minutes=30)
    with store.begin(immediate=True) as conn:
        assert dstore.acquire_lock(conn, admin.id, f"{host}:{dead.pid}:x", now, stale) is None
    with store.begin(immediate=True) as conn:  # its process is gone: taken over at once
        assert dstore.acquire_lock(conn, admin.id, f"{host}:{os.getpid()}:y", now, stale) is None
    with store.begin(immediate=True) as conn:  # this process is alive: respected
        holder = dstore.acquire_lock(conn, admin.id, f"{host}:1:z", now, stale)
    assert holder == f"{host}:{os.getpid()}:y"
    with store.begin(immediate=True) as conn:  # another machine's holder: only by its lease
        dstore.release_lock(conn, admin.id, f"{host}:{os.getpid()}:y")
        dstore.acquire_lock(conn, admin.id, "elsewhere:1:w", now, stale)
    with store.begin(immediate=True) as conn:
        assert dstore.acquire_lock(conn, admin.id, "me:2:v", now, stale) == "elsewhere:1:w"
