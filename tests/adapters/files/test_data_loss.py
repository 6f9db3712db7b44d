"""Issue 12 point 6 through the sync engine: a debtor without a kind is counted in the sync
summary (and said by `connector sync`), and the progress bar follows the reading of a large
export instead of appearing after it, with the items never all in memory at once.

(The mass-close guard: tests/connector/test_sync_guard.py; encodings: test_client.py and
test_ledger.py; the 50 MB figure: bench/sync_files_50mb.py.)
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.files import FilesLedger
from adapters.files import client
from connector.store import Store
from connector.store import records
from connector.sync import sync_all
from tests.fakes.cli import cli_runner

ITEMS = "invoice_number,debtor_code,due_date,open_amount\n"
DEBTORS = "debtor_code,name,kind\nD1,Acme B.V.,zakelijk\nD2,Jan Jansen,\nD3,Piet,particulier\n"


def _sync(store: Store, ledger: FilesLedger, **kwargs: Any):
    with store.begin() as conn:
        if not records.list_connections(conn):
            c = records.save_connection(
                conn, name="f", ledger="files", config={}, now=datetime.now(UTC)
            )
            records.save_administrations(conn, c.id, ledger.administrations())
    [summary] = sync_all(store, lambda _c: ledger, **kwargs)
    assert summary.ok, summary.error
    return summary


def test_debtors_without_kind_are_counted(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS + "F1,D1,2026-03-01,10\nF2,D2,2026-03-01,5\n")
    (folder / "debtors.csv").write_text(DEBTORS)
    summary = _sync(store, FilesLedger(folder))
    assert summary.debtors_fetched == 3
    assert summary.debtors_without_kind == 1
    with store.begin() as conn:
        jan = next(d for d in records.list_debtors(conn) if d.code == "D2")
    assert jan.kind == "consumer" and "kind-unknown" in jan.tags  # unknown: consumer (13.1)

    (folder / "debtors.csv").unlink()  # debtors from the items file: no kind for anyone
    assert _sync(store, FilesLedger(folder)).debtors_without_kind == 2


def test_connector_sync_says_how_many_have_no_kind(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    cli = cli_runner(capsys)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS + "F1,D1,2026-03-01,10\n")
    (folder / "debtors.csv").write_text(DEBTORS)
    cli("init")
    cli("connect", "files", "--name", "acme", "--path", str(folder))
    result = cli("sync")
    assert result.code == 0, result.err
    assert (
        "exports: 1 debtor has no kind (business or consumer) in the ledger and are treated "
        "as business; tagged kind-unknown"
    ) in result.out


class _Bar:
    def __init__(self, log: list[tuple[str, Any]], label: str, total: int | None) -> None:
        self.log = log
        log.append(("open", (label, total, _rows_read[0])))

    def update(self, n: int) -> None:
        self.log.append(("update", (n, _rows_read[0])))

    def close(self) -> None:
        self.log.append(("close", _rows_read[0]))


_rows_read = [0]


def test_the_progress_bar_follows_the_reading(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 5_500
    folder = tmp_path / "big"
    folder.mkdir()
    lines = "".join(f"F{n};D{n % 50};2026-03-01;{n % 97 + 1},00\n" for n in range(count))
    (folder / "items.csv").write_text(ITEMS.replace(",", ";") + lines)
    # read as a large export is (not kept, parts of 1,000 rows), so that a small file shows it
    monkeypatch.setattr("adapters.files.ledger.KEEP_BYTES", 0, raising=False)
    monkeypatch.setattr("adapters.files.ledger._PART_ROWS", 1_000, raising=False)
    rows = client._csv_rows

    def counted(*args: Any) -> Any:
        for row in rows(*args):
            _rows_read[0] += 1
            yield row

    monkeypatch.setattr(client, "_csv_rows", counted)
    log: list[tuple[str, Any]] = []
    summary = _sync(
        store, FilesLedger(folder), progress=lambda label, total: _Bar(log, label, total)
    )
    assert summary.new == count

    [opened] = [entry for kind, entry in log if kind == "open" and "items" in entry[0]]
    label, total, read_before = opened
    assert total == count  # the bar knows its end from the start
    start = log.index(("open", opened))
    updates = [entry for kind, entry in log[start:] if kind == "update"]
    assert sum(n for n, _read in updates) == count
    assert len(updates) >= 5
    # The bar moves while the file is read, not after it: between its updates rows are read
    # (on a 50 MB export the reading is the minute the user waits for).
    read_at_updates = [read for _n, read in updates]
    assert read_at_updates == sorted(read_at_updates)
    assert len(set(read_at_updates)) >= 5
    assert read_at_updates[0] - read_before < count / 2
