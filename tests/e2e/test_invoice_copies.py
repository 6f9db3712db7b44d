"""A reminder that sends a copy of the invoice attaches the ledger's own PDF (Moneybird)."""

from __future__ import annotations

import email
from pathlib import Path

from tests.adapters.moneybird.test_moneybird_e2e import cli  # noqa: F401 - fixtures
from tests.adapters.moneybird.test_moneybird_e2e import connect
from tests.adapters.moneybird.test_moneybird_e2e import env  # noqa: F401
from tests.adapters.moneybird.test_moneybird_e2e import moneybird  # noqa: F401
from tests.adapters.moneybird.test_moneybird_e2e import oauth_server  # noqa: F401

POLICY = """
[dunning]
default_policy = "copies"

[policies.copies]
[[policies.copies.steps]]
name = "reminder_2"
kind = "reminder"
days_after_due = 2
channels = ["outbox"]
template = "reminder_2"
attach_invoices = true

[channels.outbox]
folder = "outbox"

[administrations."Parkietje B.V.".sender]   # complete, or the letter is held (issue 12.1)
name = "Parkietje B.V."
street = "Kade 1"
postal_code = "1011 AA"
city = "Amsterdam"
iban = "NL91ABNA0417164300"
kvk_number = "12345678"
email = "debiteuren@parkietje.example"
"""


def test_invoice_copy_is_the_ledgers_pdf(cli, env, moneybird, tmp_path):  # noqa: F811
    adm = moneybird.add_administration("Parkietje B.V.")
    contact = moneybird.add_contact(
        adm, company_name="Bakkerij van Dijk", email="factuur@bakkerij.nl"
    )["id"]
    invoice = moneybird.add_invoice(adm, contact, "242.00", number="2026-00031")
    iid = invoice["id"] if isinstance(invoice, dict) else invoice
    config = Path(env["CONNECTOR_CONFIG"])
    config.write_text(config.read_text() + POLICY)
    assert cli("init").code == 0
    assert connect(env).code == 0
    assert cli("sync").code == 0
    result = cli("dunning", "run", "--date", "2027-06-01")
    assert result.code == 0, result.err
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes())
    attached = {
        part.get_filename(): part.get_payload(decode=True)
        for part in message.walk()
        if part.get_filename()
    }
    assert attached["2026-00031.pdf"] == moneybird.invoice_pdf_bytes(adm, iid)
