"""Point 12.8: /metrics carries sync figures per ledger and dunning letters per status and
blocked reason, read from the store at scrape time."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

from prometheus_client import generate_latest

from adapters.files import FilesLedger
from adapters.files.auth import path_from_config
from connector.cli.jobs import sync_job
from connector.dunning.tables import dunning_actions
from connector.store import Store
from connector.store import records
from connector.sync_metrics import sync_and_record
from tests.fakes.cli import cli_runner
from webhooks.metrics import Metrics

ITEMS = "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,9\nF2,D1,2026-03-02,1\n"


def _scrape(store: Store) -> str:
    return generate_latest(Metrics(store).registry).decode()


def _books(tmp_path, monkeypatch, capsys, store_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    assert cli_runner(capsys)("connect", "files", "--path", str(folder)).code == 0
    return folder


def test_sync_figures_per_ledger(store, store_url, tmp_path, monkeypatch, capsys):
    _books(tmp_path, monkeypatch, capsys, store_url)
    sync_job(None)
    sync_job(None)
    text = _scrape(store)
    assert 'connector_sync_runs_total{ledger="files"} 2.0' in text
    assert 'connector_sync_administrations_total{ledger="files"} 2.0' in text
    assert 'connector_sync_items_total{ledger="files"} 4.0' in text
    assert 'connector_sync_errors_total{ledger="files"} 0.0' in text
    assert 'connector_sync_last_duration_seconds{ledger="files"}' in text
    assert 'connector_sync_seconds_total{ledger="files"}' in text
    # the files ledger calls no API: no figure rather than a made-up 0
    assert 'connector_sync_api_calls_total{ledger="files"}' not in text


class _CountingLedger(FilesLedger):
    def api_usage(self) -> tuple[int, int]:
        return (7, 2)


def test_api_calls_and_429s_where_the_ledger_counts_them(
    store, store_url, tmp_path, monkeypatch, capsys
):
    _books(tmp_path, monkeypatch, capsys, store_url)

    def ledger_for(connection):
        return _CountingLedger(path_from_config(connection.config))

    summaries = sync_and_record(store, ledger_for)
    assert [s.fetched for s in summaries] == [2]
    text = _scrape(store)
    assert 'connector_sync_api_calls_total{ledger="files"} 7.0' in text
    assert 'connector_sync_rate_limited_total{ledger="files"} 2.0' in text


def test_dunning_letters_per_status_and_blocked_per_reason(
    store, store_url, tmp_path, monkeypatch, capsys
):
    _books(tmp_path, monkeypatch, capsys, store_url)
    with store.begin() as conn:
        (admin,) = records.list_administrations(conn)
    now = datetime.now(UTC)
    zero = Decimal(0)
    rows = [
        ("sent", "", True),
        ("sent", "", True),
        ("blocked", "sender has no IBAN", True),
        ("blocked", "sender has no IBAN", True),
        ("blocked", "interest rate table ends 2026-06-30", True),
        ("sent", "", False),  # a call task is not a letter
    ]
    with store.begin() as conn:
        for index, (status, reason, message) in enumerate(rows):
            conn.execute(
                dunning_actions.insert().values(
                    administration_id=admin.id,
                    debtor_code=f"D{index}",
                    step_name="r1",
                    cycle=1,
                    policy="default",
                    step_index=0,
                    step_kind="reminder",
                    template="reminder_1",
                    channels="email",
                    message=message,
                    language="nl",
                    status=status,
                    status_reason=reason,
                    planned_on=date(2026, 3, 10),
                    currency="EUR",
                    principal=zero,
                    collection_costs=zero,
                    collection_costs_vat=zero,
                    interest=zero,
                    total=zero,
                    charged_costs=zero,
                    charged_vat=zero,
                    charged_interest=zero,
                    charged_principal=zero,
                    payment_reference=f"{index:016d}",
                    created_at=now,
                    updated_at=now,
                )
            )
    text = _scrape(store)
    assert 'connector_dunning_letters{status="sent"} 2.0' in text
    assert 'connector_dunning_letters{status="blocked"} 3.0' in text
    assert 'connector_dunning_blocked{reason="sender has no IBAN"} 2.0' in text
    assert 'connector_dunning_blocked{reason="interest rate table ends 2026-06-30"} 1.0' in text
