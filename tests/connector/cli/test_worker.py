"""`connector worker`, `connector sync` and `connector jobs` on PostgreSQL with the
Procrastinate engine: the CLI enqueues and waits, a worker process does the syncs, and a
failed job is listed with its error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytest.importorskip("procrastinate")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def pg_url(pg_template) -> str:
    if pg_template is None:
        pytest.skip("CONNECTOR_TEST_POSTGRES_URL is not set; the worker test needs PostgreSQL")
    name = f"connector_worker_{uuid.uuid4().hex[:10]}"
    with pg_template.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_template.base_url).set(database=name).render_as_string(hide_password=False)
    with pg_template.admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cli(config: Path, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", "from connector.cli import main; main()", "--config", str(config)]
        + list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sync_runs_on_a_worker_and_failed_jobs_are_listed(pg_url: str, tmp_path: Path) -> None:
    config = tmp_path / "connector.toml"
    config.write_text(
        f'database_url = "{pg_url}"\n\n[tasks]\nengine = "procrastinate"\nconcurrency = 2\n',
        encoding="utf-8",
    )
    assert _cli(config, "demo", cwd=tmp_path).returncode == 0
    items = tmp_path / "demo-data" / "studio-noord" / "items.csv"
    items.write_text(
        items.read_text(encoding="utf-8") + "X-1,1010,2025-03-01,2025-03-22,x,x,EUR,\n"
    )
    listed = _cli(config, "jobs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr  # no job yet: an empty table

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-c", "from connector.cli import main; main()", "--config", str(config)]
        + ["worker", "--concurrency", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        queued = _cli(config, "sync", "--no-wait", "--administration", "1", cwd=tmp_path)
        assert queued.returncode == 0, queued.stderr
        assert "sync jobs enqueued" in queued.stdout
        synced = _cli(config, "sync", cwd=tmp_path)
        assert synced.returncode == 1, synced.stderr  # one administration failed
        assert "Bakkerij van Dijk" in synced.stdout
        assert "not an amount: 'x'" in synced.stderr
        assert "1 administration failed to sync" in synced.stderr

        failed = _cli(config, "jobs", "--status", "failed", "--json", cwd=tmp_path)
        assert failed.returncode == 0, failed.stderr
        rows = json.loads(failed.stdout)
        assert [r["task"] for r in rows] == ["sync.administration"]
        assert rows[0]["error"] == "studio-noord: 3 problems in the files; nothing was changed"
        done = json.loads(
            _cli(config, "jobs", "--status", "succeeded", "--json", cwd=tmp_path).stdout
        )
        assert len(done) >= 2  # and the --no-wait one (or it joined the waiting one)
        assert {r["args"]["administration_id"] for r in done} == {1, 2}
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    assert worker.returncode is not None


def test_worker_refuses_a_sqlite_store(tmp_path: Path) -> None:
    config = tmp_path / "connector.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "c.db"}"\n', encoding="utf-8")
    assert _cli(config, "init", cwd=tmp_path).returncode == 0
    started = time.monotonic()
    result = _cli(config, "worker", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "connector worker needs the store on PostgreSQL" in result.stderr
    assert time.monotonic() - started < 60
    jobs = _cli(config, "jobs", cwd=tmp_path)
    assert jobs.returncode == 2
    assert 'set [tasks] engine = "procrastinate"' in jobs.stderr
    no_wait = _cli(config, "sync", "--no-wait", cwd=tmp_path)
    assert no_wait.returncode == 2
    assert "--no-wait needs workers to run the syncs" in no_wait.stderr
