"""Benchmark: server time and size of the workspace's pages on a seeded store.

Seeds N administrations (one firm, one owner), each with D debtors, I open items and L letters
awaiting approval, then requests the overview, the attention queue and a debtor page R times
each through Flask's test client (server time, no network) and prints p50/p95 and bytes.
Issue 19's aims: overview and queue p95 < 300 ms, debtor page p95 < 150 ms, pages < 200 KB
(at 1,000 administrations / 1,000,000 items on PostgreSQL; 100 administrations on SQLite).
Run it as a module: bench/webhooks.py would shadow the webhooks package as a script.

    python -m bench.workspace_pages [--admins 100] [--items 1000] [--database URL] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from connector.dunning.tables import dunning_actions
from connector.firms import users as firm_users
from connector.firms.tables import Role
from connector.settings import load_settings
from connector.store import Store
from connector.store.schema import administrations
from connector.store.schema import connections
from connector.store.schema import debtors
from connector.store.schema import open_items

PASSWORD = "bench password 123"


def seed(store: Store, admins: int, debtors_per: int, items_per: int, letters_per: int) -> None:
    now = datetime.now(UTC)
    today = date.today()
    with store.begin() as conn:
        conn.execute(
            insert(connections).values(
                id=1,
                name="bench",
                ledger="files",
                config={},
                status="active",
                status_reason="",
                created_at=now,
                updated_at=now,
            )
        )
        user = firm_users.add_user(
            conn,
            email="owner@bench.test",
            firm="Bench",
            role=Role.OWNER,
            password=PASSWORD,
            now=now,
        )
        for a in range(1, admins + 1):
            conn.execute(
                insert(administrations).values(
                    id=a,
                    connection_id=1,
                    external_id=f"adm{a}",
                    name=f"Administratie {a:04d}",
                    currency="EUR",
                    timezone="Europe/Amsterdam",
                    country="NL",
                    active=True,
                    last_sync_at=now,
                    last_sync_status="ok",
                    last_sync_error="",
                )
            )
            conn.execute(
                insert(debtors),
                [
                    {
                        "administration_id": a,
                        "code": f"D{d}",
                        "name": f"Debiteur {d}",
                        "kind": "business",
                        "fingerprint": "x",
                        "created_at": now,
                        "updated_at": now,
                        "tags": [],
                    }
                    for d in range(debtors_per)
                ],
            )
            conn.execute(
                insert(open_items),
                [
                    {
                        "administration_id": a,
                        "external_id": f"I{i}",
                        "invoice_number": f"F{i}",
                        "debtor_code": f"D{i % debtors_per}",
                        "invoice_date": today,
                        "due_date": today - timedelta(days=i % 120),
                        "currency": "EUR",
                        "amount": Decimal("121.00"),
                        "open_amount": Decimal("121.00"),
                        "status": "open",
                        "fingerprint": "x",
                        "first_seen_at": now,
                        "updated_at": now,
                    }
                    for i in range(items_per)
                ],
            )
            zero = Decimal(0)
            conn.execute(
                insert(dunning_actions),
                [
                    {
                        "administration_id": a,
                        "debtor_code": f"D{n}",
                        "step_name": "herinnering",
                        "cycle": 1,
                        "policy": "default",
                        "step_index": 0,
                        "step_kind": "reminder",
                        "template": "reminder",
                        "channels": "email",
                        "message": True,
                        "language": "nl",
                        "status": "pending_approval",
                        "planned_on": today,
                        "currency": "EUR",
                        "principal": Decimal("121.00"),
                        "collection_costs": zero,
                        "collection_costs_vat": zero,
                        "interest": zero,
                        "total": Decimal("121.00"),
                        "charged_costs": zero,
                        "charged_vat": zero,
                        "charged_interest": zero,
                        "charged_principal": zero,
                        "payment_reference": f"R{a}-{n}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(letters_per)
                ],
            )
        firm_users.assign_administrations(conn, user.firm_id, list(range(1, admins + 1)))


def timed(client, path: str, repeat: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.data)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admins", type=int, default=100)
    parser.add_argument("--debtors", type=int, default=200)
    parser.add_argument("--items", type=int, default=1000, help="open items per administration")
    parser.add_argument("--letters", type=int, default=5, help="awaiting approval, per admin")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    url = args.database or f"sqlite:///{folder / 'bench.db'}"
    os.environ["CONNECTOR_DATABASE_URL"] = url
    os.environ["CONNECTOR_WORKSPACE_SECRET"] = "bench secret"
    store = Store(url)
    store.migrate()
    start = time.perf_counter()
    seed(store, args.admins, args.debtors, args.items, min(args.letters, args.debtors))
    print(
        f"seeded {args.admins} administrations, {args.admins * args.items:,} open items, "
        f"{args.admins * args.letters:,} letters in {time.perf_counter() - start:.1f} s "
        f"({store.describe()})"
    )
    from connector.oauth.service import OAuthLedgers
    from webhooks.app import Services
    from webhooks.app import create_app

    settings = load_settings(os.environ, config_path=None)
    app = create_app(
        settings, Services(store=store, oauth=OAuthLedgers(settings, store, os.environ))
    )
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    page = client.get("/w/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/w/login", data={"email": "owner@bench.test", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code
    admin_url = re.search(r'href="(/w/a/[^"]+)"', client.get("/w/").text).group(1)
    debtor_url = re.search(r'href="(/w/d/[^"]+)"', client.get(admin_url).text).group(1)
    for label, path, aim in (
        ("overview", "/w/", 300),
        ("queue", "/w/vandaag", 300),
        ("debtor", debtor_url, 150),
    ):
        p50, p95, size = timed(client, path, args.repeat)
        verdict = "ok" if p95 < aim else f"MISSED by {p95 - aim:.0f} ms"
        print(
            f"{label:9s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (aim < {aim} ms: {verdict})  "
            f"{size / 1024:6.1f} KB"
        )
    store.dispose()


if __name__ == "__main__":
    main()
