"""Moneybird conformance: every request the adapter makes, and every answer of the fake,
validated against Moneybird's own OpenAPI description with openapi-core.

The scenario covers what the adapter does to Moneybird: a full sync through the real sync
engine and store, a re-sync after changes, a fresh read of single items, a payment, a
reversal (a negative payment), a dispute note with pause and resume, and an invoice PDF
download. It runs once where `external_sales_invoices/synchronization` answers and once
where it does not (the adapter then reads the listing). The description is checked in
beside this file with its source and date (openapi/SOURCE.md).

Beyond the schema, the `state` values of every `filter` sent must be among those that the
listing's own `filter` table documents (the OpenAPI description keeps `filter` a free string).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core import Config
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest
from openapi_core.contrib.requests import RequestsOpenAPIResponse

from adapters.moneybird.auth import settings_from_config
from adapters.moneybird.client import MoneybirdClient
from adapters.moneybird.ledger import MoneybirdLedger
from connector.domain import Money
from connector.store import Store
from connector.store import records
from connector.sync import sync_all
from tests.fakes.moneybird import EXTERNAL
from tests.fakes.moneybird import FakeMoneybird
from tests.fakes.moneybird import StubTokens

DESCRIPTION = Path(__file__).parent / "openapi" / "moneybird-openapi.json"
PRODUCTION = "https://moneybird.com/api/v2"


@cache
def description() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    return data


def _parameters(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from data["components"].get("parameters", {}).values()
    for operations in data["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                yield from operation.get("parameters", [])


@cache
def openapi() -> OpenAPI:
    """openapi-core over the description, with two changes made in memory. A request body
    described for `application/*` is described for `application/json` (what the adapter
    sends), which openapi-core then parses as JSON rather than comparing bytes. A parameter whose
    schema has a list of types (`page`, an `id`: ["integer", "string"]) gets its first type,
    because
    openapi-core 0.23 cannot deserialise a query parameter of several types. Bodies and
    answers are validated exactly as described."""
    data = json.loads(json.dumps(description()))
    schemas = data["components"]["schemas"]
    for parameter in _parameters(data):
        schema = parameter.get("schema", {})
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):  # inlined, so that only it changes
            schema = parameter["schema"] = dict(schemas[ref.rsplit("/", 1)[1]])
        if isinstance(schema.get("type"), list):
            schema["type"] = next(t for t in schema["type"] if t != "null")
    for operations in data["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if isinstance(operation, dict) and "application/*" in content:
                content["application/json"] = content.pop("application/*")
    # The description itself is Moneybird's; checking it again costs seconds and tells us
    # nothing about the adapter.
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


class Recorder(requests.Session):
    """A session that keeps every exchange with the API (not the temporary file URLs)."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self.api_url = api_url
        self.exchanges: list[requests.Response] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if str(request.url).startswith(self.api_url):
            self.exchanges.append(response)
        return response


def as_production(prepared: requests.PreparedRequest, api_url: str) -> requests.PreparedRequest:
    """The same request as if sent to Moneybird's production server of the description.

    Every path ends in `{format}` (`.json`, `.xml` or nothing). openapi-core reads
    `/{id}{format}` greedily (the id would be "123.json"), so the `.json` the adapter sends is
    taken off here, which the description allows (an empty format); `problems_of` checks the
    suffix itself."""
    copy = prepared.copy()
    parts = urlsplit(PRODUCTION + str(prepared.url)[len(api_url) :])
    copy.url = parts._replace(path=parts.path.removesuffix(".json")).geturl()
    return copy


def documented_states() -> dict[str, set[str]]:
    """resource -> the `state` values its listing's `filter` table documents."""
    found: dict[str, set[str]] = {}
    for resource in ("sales_invoices", EXTERNAL):
        operation = description()["paths"][f"/{{administration_id}}/{resource}{{format}}"]["get"]
        [text] = [p["description"] for p in operation["parameters"] if p.get("name") == "filter"]
        row = next(line for line in text.splitlines() if line.startswith("| state |"))
        found[resource] = set(re.findall(r"`([a-z_]+)`", row.split("|")[4]))
    return found


def problems_of(exchanges: list[requests.Response], api_url: str) -> list[str]:
    api = openapi()
    states = documented_states()
    problems: list[str] = []
    for response in exchanges:
        prepared = as_production(response.request, api_url)
        request = RequestsOpenAPIRequest(prepared)
        where = f"{prepared.method} {urlsplit(str(prepared.url)).path}"
        for error in api.iter_request_errors(request):
            problems.append(f"request {where}: {error!r} {getattr(error, '__cause__', '')}")
        for error in api.iter_response_errors(request, RequestsOpenAPIResponse(response)):
            problems.append(
                f"answer {response.status_code} to {where}: {error!r} "
                f"{getattr(error, '__cause__', '')}"
            )
        sent = urlsplit(str(response.request.url)).path
        if not re.fullmatch(r"/api/v2/[a-z0-9_/]+(\.json)?", sent):
            problems.append(f"request {where}: a path without the described format ({sent})")
        query = dict(parse_qsl(urlsplit(str(prepared.url)).query))
        segments = urlsplit(str(prepared.url)).path.split("/")  # "", api, v2, adm, resource
        resource = segments[4].removesuffix(".json") if len(segments) > 4 else ""
        if "filter" in query and resource in states:
            terms = dict(t.partition(":")[::2] for t in query["filter"].split(","))
            for state in terms.get("state", "all").split("|"):
                if state not in states[resource]:
                    problems.append(f"request {where}: filter state {state!r} is undocumented")
    return problems


def _connect(store: Store, ledger: MoneybirdLedger) -> None:
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="mb", ledger="moneybird", config={}, now=datetime.now(UTC)
        )
        records.save_administrations(conn, connection.id, ledger.administrations())


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'connector.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.mark.parametrize("external_synchronization", [None, 404])
def test_every_request_and_answer_is_as_described(
    sqlite_store: Store, external_synchronization: int | None
) -> None:
    with FakeMoneybird(external_synchronization=external_synchronization) as fake:
        adm = fake.add_administration()
        fake.add_workflow(adm, "Automatisch", auto_send=True)
        contacts = [fake.add_contact(adm, company_name=f"Klant {n} B.V.")["id"] for n in range(3)]
        fake.add_contact(adm, company_name="", firstname="Jan", lastname="Jansen")
        sales = [fake.add_invoice(adm, c, "121.00") for c in contacts]
        old = fake.add_invoice(adm, contacts[0], "50.00", invoice_date=date(2022, 1, 5))
        ext = fake.add_invoice(adm, contacts[1], "300.00", kind=EXTERNAL, state="late")
        fake.add_invoice(adm, contacts[2], "-20.00")  # a credit note

        recorder = Recorder(fake.api_url)
        settings = settings_from_config(fake.settings())
        client = MoneybirdClient(settings, StubTokens("test-token"), session=recorder)
        ledger = MoneybirdLedger(client, settings)
        _connect(sqlite_store, ledger)

        # A full sync, then a re-sync after changes (one paid, one deleted, one new).
        [first] = sync_all(sqlite_store, lambda _c: ledger)
        assert first.ok, first.error
        assert first.new == 6
        fake.update_invoice(adm, sales[0]["id"], state="paid", _paid=Decimal("121.00"))
        fake.delete_invoice(adm, ext["id"], kind=EXTERNAL)
        new_ext = fake.add_invoice(adm, contacts[2], "75.00", kind=EXTERNAL)
        [second] = sync_all(sqlite_store, lambda _c: ledger)
        assert second.ok, second.error
        assert (second.new, second.closed) == (1, 2)

        # A fresh read of single items (one of them external).
        admin = ledger.administrations()[0]
        read = ledger.read_items(admin, [sales[1]["id"], old["id"], f"ext:{new_ext['id']}"])
        assert len(read) == 3
        [item] = [i for i in read if i.external_id == sales[1]["id"]]

        # A payment, a reversal, a dispute (note, pause) and its end (note, resume).
        receipt = ledger.record_payment(
            admin, item, Money(Decimal("21.00")), date.today(), "dc-conf-1"
        )
        assert receipt.amount == Money(Decimal("21.00"))
        reversal = ledger.reverse_payment(admin, item, Money(Decimal("21.00")), "dc-conf-2")
        assert reversal.amount == Money(Decimal("21.00"))
        ledger.flag_dispute(admin, item, "Levering onvolledig", "dc-conf-3")
        ledger.clear_dispute(admin, item, "dc-conf-4")
        [ext_item] = [i for i in read if i.external_id.startswith("ext:")]
        ledger.flag_dispute(admin, ext_item, "Dubbel gefactureerd", "dc-conf-5")

        # An invoice PDF: the download answers 302 to a temporary URL.
        pdf = ledger.invoice_pdf(admin, item)
        assert pdf is not None and pdf.startswith(b"%PDF")

    routes = {
        (r.request.method, re.sub(r"/\d+", "/{id}", urlsplit(str(r.request.url)).path))
        for r in recorder.exchanges
    }
    expected = {
        ("GET", "/api/v2/administrations.json"),
        ("GET", "/api/v2/{id}/contacts/synchronization.json"),
        ("POST", "/api/v2/{id}/contacts/synchronization.json"),
        ("GET", "/api/v2/{id}/workflows.json"),
        ("GET", "/api/v2/{id}/sales_invoices/synchronization.json"),
        ("POST", "/api/v2/{id}/sales_invoices/synchronization.json"),
        ("GET", "/api/v2/{id}/sales_invoices/{id}.json"),
        ("POST", "/api/v2/{id}/sales_invoices/{id}/payments.json"),
        ("POST", "/api/v2/{id}/sales_invoices/{id}/notes.json"),
        ("POST", "/api/v2/{id}/sales_invoices/{id}/pause.json"),
        ("POST", "/api/v2/{id}/sales_invoices/{id}/resume.json"),
        ("GET", "/api/v2/{id}/sales_invoices/{id}/download_pdf"),
        ("GET", "/api/v2/{id}/external_sales_invoices/{id}.json"),
        ("POST", "/api/v2/{id}/external_sales_invoices/{id}/notes.json"),
    }
    if external_synchronization is None:
        expected |= {
            ("GET", "/api/v2/{id}/external_sales_invoices/synchronization.json"),
            ("POST", "/api/v2/{id}/external_sales_invoices/synchronization.json"),
        }
    else:
        expected |= {("GET", "/api/v2/{id}/external_sales_invoices.json")}
    assert expected <= routes, sorted(expected - routes)

    # The deliberate "no such path" answers of the fallback run are not Moneybird's
    # description of that path; everything else must conform.
    checked = [
        r
        for r in recorder.exchanges
        if not (
            external_synchronization is not None
            and r.request.path_url.split("?")[0].endswith(f"{EXTERNAL}/synchronization.json")
        )
    ]
    assert len(checked) > 20
    assert problems_of(checked, recorder.api_url) == []


def test_the_check_has_teeth() -> None:
    """An undocumented field in an answer, an undocumented filter state and an undescribed
    path are each reported: the conformance test above would catch them."""
    api_url = "http://127.0.0.1:1/api/v2"

    def exchange(method: str, path: str, body: Any, status: int = 200) -> requests.Response:
        headers = {"Authorization": "Bearer test-token"}
        prepared = requests.Request(method, api_url + path, headers=headers).prepare()
        response = requests.Response()
        response.status_code = status
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(body).encode()
        response.request = prepared
        response.url = str(prepared.url)
        return response

    workflow = {"id": "1", "name": "Standaard", "type": "InvoiceWorkflow"}
    assert problems_of([exchange("GET", "/1/workflows.json", [workflow])], api_url) == []
    odd = {**workflow, "reminders_enabled": True}
    assert problems_of([exchange("GET", "/1/workflows.json", [odd])], api_url)
    pending = "/1/external_sales_invoices.json?filter=state%3Aopen%7Cpending_payment"
    [problem] = problems_of([exchange("GET", pending, [])], api_url)
    assert "pending_payment" in problem
    assert problems_of([exchange("GET", "/1/reminders.json", [])], api_url)


def test_the_description_on_file_is_the_one_named_in_its_source() -> None:
    source = (DESCRIPTION.parent / "SOURCE.md").read_text(encoding="utf-8")
    version = description()["info"]["version"]
    assert version in source
    assert description()["servers"][0]["url"] == PRODUCTION
    # sanity: what the adapter relies on is in this description
    paths = description()["paths"]
    assert "/{administration_id}/external_sales_invoices{format}" in paths
    assert "steps" in description()["components"]["schemas"]["workflow_response"]["properties"]
