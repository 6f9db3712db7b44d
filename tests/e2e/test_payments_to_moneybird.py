"""End to end: payments from Stripe and Mollie reach a Moneybird administration exactly once.

A Moneybird administration on the fake Moneybird, connected through the CLI; a Stripe-signed
payment_intent.succeeded and a Mollie payment arrive at the HTTP edge; the scheduled payments
job matches and writes them back. The fake receives exactly one payment per invoice, with
the right amount and our key, also when the write's answer is lost once; the items close
locally; dunning no longer plans them. A chargeback then reopens the item with a dispute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
import responses

from connector.cli import main
from connector.cli.context import Context
from connector.cli.http import build_app
from connector.cli.jobs import payments_job
from tests.adapters.moneybird.test_moneybird_e2e import cli  # noqa: F401 - fixtures
from tests.adapters.moneybird.test_moneybird_e2e import connect
from tests.adapters.moneybird.test_moneybird_e2e import env  # noqa: F401
from tests.adapters.moneybird.test_moneybird_e2e import moneybird  # noqa: F401
from tests.adapters.moneybird.test_moneybird_e2e import oauth_server  # noqa: F401

STRIPE_SECRET = "whsec_e2e"
MOLLIE_KEY = "test_e2eMollieApiKeyForTheFakeApi00000"


def stripe_post(client, token, event_type, obj):
    body = json.dumps(
        {
            "id": f"evt_{time.monotonic_ns()}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    t = int(time.time())
    sig = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post(
        f"/webhooks/{token}/stripe",
        data=body,
        headers={"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"},
    )


def local_items(cli_run) -> dict[str, tuple[str, Decimal]]:
    listed = json.loads(cli_run("items", "--status", "all", "--json").out)
    return {r["invoice_number"]: (r["status"], Decimal(r["open_amount"])) for r in listed}


def planned_invoices(cli_run) -> set[str]:
    """Invoices `connector dunning plan` would remind about, well after their due date."""
    result = cli_run("dunning", "plan", "--date", "2027-06-01", "--json")
    assert result.code == 0, result.err
    return {n for letter in json.loads(result.out) for n in letter["invoice_numbers"]}


@pytest.fixture
def world(cli, env, oauth_server, moneybird, capsys, monkeypatch):  # noqa: F811
    adm = moneybird.add_administration("Parkietje B.V.")
    contact = moneybird.add_contact(adm, company_name="Bakkerij van Dijk")["id"]
    card = moneybird.add_invoice(adm, contact, "1210.00", number="2026-00001")
    ideal = moneybird.add_invoice(adm, contact, "500.00", number="2026-00002")
    assert cli("init").code == 0
    assert connect(env).code == 0
    assert cli("sync").code == 0
    capsys.readouterr()
    main(["webhooks", "create-endpoint", "shop", "--administration", "Parkietje B.V."])
    token = capsys.readouterr().out.split("/webhooks/")[1].split("/")[0]
    monkeypatch.setenv("E2E_STRIPE", STRIPE_SECRET)
    monkeypatch.setenv("E2E_MOLLIE", MOLLIE_KEY)
    main(["webhooks", "set-secret", "shop", "stripe", "--from-env", "E2E_STRIPE"])
    main(["webhooks", "set-secret", "shop", "mollie", "--from-env", "E2E_MOLLIE"])
    ctx = Context(config_path=None, debug=False)
    client = build_app(ctx).test_client()
    yield (
        adm,
        {
            "card": card["id"] if isinstance(card, dict) else card,
            "ideal": ideal["id"] if isinstance(ideal, dict) else ideal,
        },
        client,
        token,
    )
    ctx.close()


def test_stripe_and_mollie_payments_are_written_back_once(world, cli, moneybird):  # noqa: F811
    adm, invoices, client, token = world
    assert planned_invoices(cli) == {"2026-00001", "2026-00002"}  # overdue, unpaid: planned
    item_id = next(
        r["id"]
        for r in json.loads(cli("items", "--json").out)
        if r["invoice_number"] == "2026-00001"
    )
    intent = {
        "id": "pi_e2e",
        "object": "payment_intent",
        "amount": 121000,
        "amount_received": 121000,
        "currency": "eur",
        "status": "succeeded",
        "latest_charge": "ch_e2e",
        "description": "Factuur 2026-00001",
        "metadata": {"connector_items": str(item_id)},
    }
    first = stripe_post(client, token, "payment_intent.succeeded", intent)
    assert first.status_code == 200, first.data
    assert stripe_post(client, token, "payment_intent.succeeded", intent).status_code == 200

    mollie_payment = {
        "resource": "payment",
        "id": "tr_e2e",
        "mode": "test",
        "amount": {"value": "500.00", "currency": "EUR"},
        "description": "Factuur 2026-00002",
        "metadata": None,
        "status": "paid",
        "paidAt": "2026-03-02T10:05:00+00:00",
        "createdAt": "2026-03-02T10:00:00+00:00",
        "amountRefunded": {"value": "0.00", "currency": "EUR"},
        "_embedded": {"refunds": [], "chargebacks": []},
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_passthru("http://127.0.0.1")
        mocked.get("https://api.mollie.com/v2/payments/tr_e2e", json=mollie_payment)
        answer = client.post(
            f"/webhooks/{token}/mollie",
            data=b"id=tr_e2e",
            content_type="application/x-www-form-urlencoded",
        )
    assert answer.status_code == 200, answer.data

    moneybird.lose_next_write = True  # the first payment is booked, its answer lost
    payments_job(None)
    assert moneybird.lost == 1
    payments_job(None)  # the retry looks the key up first
    payments_job(None)  # and once more: nothing may be written twice

    card = moneybird.invoice(adm, invoices["card"])
    ideal = moneybird.invoice(adm, invoices["ideal"])
    assert [Decimal(p["price"]) for p in card["payments"]] == [Decimal("1210.00")]
    assert [Decimal(p["price"]) for p in ideal["payments"]] == [Decimal("500.00")]
    assert all(
        p.get("transaction_identifier", "").startswith("dc-")
        for p in card["payments"] + ideal["payments"]
    )
    local = local_items(cli)
    assert local["2026-00001"] == ("paid", Decimal(0))
    assert local["2026-00002"] == ("paid", Decimal(0))
    outbox = json.loads(cli("outbox", "--json").out)
    assert {e["status"] for e in outbox} == {"done"} and len(outbox) == 2
    assert planned_invoices(cli) == set()  # dunning no longer plans the paid items

    dispute = {
        "id": "dp_e2e",
        "object": "dispute",
        "amount": 121000,
        "currency": "eur",
        "charge": "ch_e2e",
        "payment_intent": "pi_e2e",
        "status": "lost",
        "reason": "fraudulent",
    }
    assert stripe_post(client, token, "charge.dispute.funds_withdrawn", dispute).status_code == 200
    payments_job(None)
    assert local_items(cli)["2026-00001"] == ("open", Decimal("1210.00"))
    disputes = json.loads(cli("dispute", "list", "--json").out)
    assert [d["invoice_number"] for d in disputes] == ["2026-00001"]
    assert planned_invoices(cli) == set()  # reopened, but disputed: no reminder
    card = moneybird.invoice(adm, invoices["card"])
    assert sum(Decimal(p["price"]) for p in card["payments"]) == 0  # reversed in the ledger
