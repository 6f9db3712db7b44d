"""The SOAP client with `responses`: envelopes, faults, result="0", limits, retries, XXE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from lxml import etree

from adapters.twinfield import OAUTH_SPEC
from adapters.twinfield import create_ledger
from adapters.twinfield import documents
from adapters.twinfield.auth import ClusterResolver
from adapters.twinfield.auth import TwinfieldSettings
from adapters.twinfield.budget import Budgets
from adapters.twinfield.client import TWF_NS
from adapters.twinfield.client import CreditGate
from adapters.twinfield.client import Rejected
from adapters.twinfield.client import TwinfieldClient
from adapters.twinfield.client import parse_xml
from connector import registry
from connector.errors import AuthError
from connector.errors import ConfigError
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.errors import RetriableLedgerError

FIXTURES = Path(__file__).parent / "fixtures"
VALIDATION = "https://login.twinfield.com/auth/authentication/connect/accesstokenvalidation"
CLUSTER = "https://api.accounting2.twinfield.com"
PROCESS = f"{CLUSTER}/webservices/processxml.asmx"
FINDER = f"{CLUSTER}/webservices/finder.asmx"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class Tokens:
    values: list[str] = field(default_factory=lambda: ["token-one", "token-two", "token-three"])
    rejected_tokens: list[str] = field(default_factory=list)

    def access_token(self) -> str:
        return self.values[len(self.rejected_tokens)]

    def rejected(self, access_token: str) -> str:
        self.rejected_tokens.append(access_token)
        return self.access_token()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def answer(inner: str) -> str:
    """A ProcessXmlString SOAP answer around `inner`, escaped by lxml."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    body = etree.SubElement(envelope, f"{{{SOAP}}}Body")
    response = etree.SubElement(body, f"{{{TWF_NS}}}ProcessXmlStringResponse")
    etree.SubElement(response, f"{{{TWF_NS}}}ProcessXmlStringResult").text = inner
    return etree.tostring(envelope, encoding="unicode")


def validation(rsps: responses.RequestsMock, cluster: str = CLUSTER) -> None:
    body = json.loads(fixture("validation.json"))
    body["twf.clusterUrl"] = cluster
    rsps.add(responses.GET, VALIDATION, json=body)


def make_client(tokens: Tokens | None = None, **kwargs: Any) -> tuple[TwinfieldClient, list[float]]:
    slept: list[float] = []
    session = requests.Session()
    resolver = ClusterResolver(VALIDATION, session)
    options: dict[str, Any] = {"credits_per_minute": 500, "sleep": slept.append}
    options.update(kwargs)
    return TwinfieldClient(tokens or Tokens(), resolver, session, **options), slept


def sent_document(request: Any) -> etree._Element:
    envelope = etree.fromstring(request.body)
    text = envelope.findtext(f".//{{{TWF_NS}}}xmlRequest")
    return etree.fromstring(text)


def test_oauth_spec_and_entry_point() -> None:
    assert OAUTH_SPEC.scopes == (
        "openid",
        "twf.user",
        "twf.organisation",
        "twf.organisationUser",
        "offline_access",
    )
    assert OAUTH_SPEC.token_auth == "client_secret_basic"
    assert OAUTH_SPEC.authorize_url.startswith("https://login.twinfield.com/")
    assert registry.ledger_oauth_spec("twinfield") is OAUTH_SPEC
    ledger = registry.ledger_factory("twinfield")({}, tokens=Tokens())  # type: ignore[call-arg]
    assert ledger.name == "twinfield"
    assert ledger.capabilities.own_reminders and not ledger.capabilities.reverse_payment


def test_settings_defaults_and_errors() -> None:
    settings = TwinfieldSettings.from_config({"client_id": "x", "scopes": ["openid"]})
    assert settings.validation_url == VALIDATION
    assert settings.credits_per_minute == 25  # issue 14.13: uncertified unless configured
    assert not settings.certified
    certified = TwinfieldSettings.from_config({"certified": True})
    assert certified.credits_per_minute == 500
    assert TwinfieldSettings.from_config({"credits_per_minute": 10}).credits_per_minute == 10
    with pytest.raises(ConfigError, match="certified = true"):
        TwinfieldSettings.from_config({"credits_per_minute": 500})
    assert settings.payment_daybook == "BNK"
    for bad in (
        {"validation_url": "ftp://x"},
        {"credits_per_minute": 0},
        {"credits_per_minute": True},
        {"history_years": "10"},
        {"full_sync_hours": -1},
        {"payment_daybook": ""},
        {"default_debtor_kind": "alien"},
        {"certified": "yes"},
        {"bank_account": ""},
    ):
        with pytest.raises(ConfigError, match=r"\[ledgers.twinfield\]"):
            create_ledger(bad, tokens=Tokens())


@responses.activate
def test_envelope_carries_token_and_office_and_the_request_as_escaped_text() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=answer(fixture("dimension_deb.xml")))
    client, _slept = make_client()
    root = client.process_xml(documents.read_dimension("NLA000123", "0042"), "NLA000123")
    assert root.findtext("code") == "0042"
    call = responses.calls[1].request
    assert call.headers["SOAPAction"] == '"http://www.twinfield.com/ProcessXmlString"'
    envelope = etree.fromstring(call.body)
    header = envelope.find(f"{{{SOAP}}}Header/{{{TWF_NS}}}Header")
    assert header.findtext(f"{{{TWF_NS}}}AccessToken") == "token-one"
    assert header.findtext(f"{{{TWF_NS}}}CompanyCode") == "NLA000123"
    raw = call.body.decode()
    assert "&lt;read&gt;&lt;type&gt;dimensions&lt;/type&gt;" in raw  # a string, escaped
    sent = sent_document(call)
    assert (sent.findtext("type"), sent.findtext("dimtype"), sent.findtext("code")) == (
        "dimensions",
        "DEB",
        "0042",
    )
    assert client.stats.credits == 1


@responses.activate
def test_list_offices_goes_without_an_office() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=answer(fixture("offices.xml")))
    client, _ = make_client()
    client.process_xml(documents.list_offices(), None)
    header = etree.fromstring(responses.calls[1].request.body).find(
        f"{{{SOAP}}}Header/{{{TWF_NS}}}Header"
    )
    assert header.find(f"{{{TWF_NS}}}CompanyCode") is None


def test_xxe_in_the_soap_envelope_is_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    payload = fixture("xxe_envelope.xml").replace("SECRET_PATH", str(secret))
    with pytest.raises(LedgerError, match="DTD") as caught:
        parse_xml(payload.encode())
    assert "TOP-SECRET" not in str(caught.value)


@responses.activate
def test_xxe_in_the_processxml_result_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    inner = fixture("xxe_inner.xml").replace("SECRET_PATH", str(secret))
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=answer(inner))
    client, _ = make_client()
    with pytest.raises(LedgerError, match="DTD") as caught:
        client.process_xml(documents.list_offices(), None)
    assert "TOP-SECRET" not in str(caught.value)


def test_entities_stay_unresolved_even_where_lxml_would_read_them(tmp_path: Path) -> None:
    # The same payload through a default lxml parser would expand the entity: ours must not.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    inner = fixture("xxe_inner.xml").replace("SECRET_PATH", str(secret))
    inner = inner.replace('<?xml version="1.0" encoding="utf-16"?>', "")
    loose = etree.fromstring(inner.encode(), etree.XMLParser(resolve_entities=True))
    assert "TOP-SECRET" in (loose.findtext("office") or "")  # the attack is real
    with pytest.raises(LedgerError):
        parse_xml(inner)


@responses.activate
def test_stale_token_fault_with_http_200_refreshes_once_and_retries() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=fixture("fault_354.xml"), status=200)
    responses.add(responses.POST, PROCESS, body=answer(fixture("offices.xml")))
    tokens = Tokens()
    client, _ = make_client(tokens)
    client.process_xml(documents.list_offices(), None)
    assert tokens.rejected_tokens == ["token-one"]
    last = etree.fromstring(responses.calls[-1].request.body)
    assert last.findtext(f".//{{{TWF_NS}}}AccessToken") == "token-two"


@responses.activate
def test_a_token_refused_twice_needs_a_new_connection() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=fixture("fault_354.xml"), status=401)
    responses.add(responses.POST, PROCESS, body=fixture("fault_354.xml"), status=401)
    tokens = Tokens()
    client, _ = make_client(tokens)
    with pytest.raises(ReconnectRequired) as caught:
        client.process_xml(documents.list_offices(), None)
    assert len(tokens.rejected_tokens) == 1
    assert "token-" not in str(caught.value)


@responses.activate
def test_wrong_cluster_is_looked_up_again() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=fixture("fault_108.xml"), status=500)
    other = "https://api.accounting3.twinfield.com"
    validation(responses.mock, other)
    responses.add(
        responses.POST, f"{other}/webservices/processxml.asmx", body=answer(fixture("offices.xml"))
    )
    client, slept = make_client()
    client.process_xml(documents.list_offices(), None)
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        VALIDATION,
        PROCESS,
        VALIDATION,
        f"{other}/webservices/processxml.asmx",
    ]
    assert slept == []


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("fault_351.xml", 200, ReconnectRequired),
        ("fault_351.xml", 401, ReconnectRequired),
        ("fault_102.xml", 403, AuthError),
        ("fault_102.xml", 200, AuthError),
    ],
)
@responses.activate
def test_fault_table(name: str, status: int, error: type[Exception]) -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=fixture(name), status=status)
    client, _ = make_client()
    with pytest.raises(error) as caught:
        client.process_xml(documents.read_dimension("NL1", "1"), "NL1")
    assert "(code " in str(caught.value)


@responses.activate
def test_result_zero_on_a_read_is_rejected_with_its_messages() -> None:
    validation(responses.mock)
    inner = (
        '<dimension result="0">'
        '<code msgtype="error" msg="Dimensie bestaat niet.">9</code></dimension>'
    )
    responses.add(responses.POST, PROCESS, body=answer(inner))
    client, _ = make_client()
    with pytest.raises(Rejected, match="Dimensie bestaat niet") as caught:
        client.process_xml(documents.read_dimension("NL1", "9"), "NL1")
    assert caught.value.messages == ("Dimensie bestaat niet.",)


@responses.activate
def test_result_zero_on_a_write_is_input_rejected_and_costs_three_credits() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=answer(fixture("transaction_rejected.xml")))
    client, _ = make_client()
    with pytest.raises(InputRejected) as caught:
        client.process_xml(documents.match("NL1", documents.date(2026, 1, 1), []), "NL1")
    assert caught.value.problems == (
        "Dagboek BNX bestaat niet.",
        "Grootboekrekening 9999 bestaat niet.",
    )
    assert client.stats.credits == 3


@responses.activate
def test_429_waits_retry_after_with_backoff_then_succeeds() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, status=429, headers={"Retry-After": "2"})
    responses.add(responses.POST, PROCESS, status=429, headers={"Retry-After": "2"})
    responses.add(responses.POST, PROCESS, body=answer(fixture("offices.xml")))
    client, slept = make_client()
    client.process_xml(documents.list_offices(), None)
    assert len(slept) == 2
    assert 2.0 <= slept[0] <= 2.5  # starts at Retry-After
    assert 4.0 <= slept[1] <= 5.0  # then doubles
    assert client.stats.rate_limited == 2


@responses.activate
def test_429_that_persists_becomes_rate_limited_for_the_caller() -> None:
    validation(responses.mock)
    for _ in range(4):
        responses.add(responses.POST, PROCESS, status=429, headers={"Retry-After": "3"})
    client, slept = make_client(attempts=4)
    with pytest.raises(RateLimited) as caught:
        client.process_xml(documents.list_offices(), None)
    assert caught.value.retry_after == 3.0
    assert len(slept) == 3


@responses.activate
def test_a_long_retry_after_is_not_slept_but_reported() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, status=429, headers={"Retry-After": "600"})
    client, slept = make_client(max_wait=60)
    with pytest.raises(RateLimited):
        client.process_xml(documents.list_offices(), None)
    assert slept == []


@responses.activate
def test_server_errors_on_reads_are_retried_with_backoff() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body="<html>oops</html>", status=503)
    responses.add(responses.POST, PROCESS, body=answer(fixture("offices.xml")), status=200)
    client, slept = make_client()
    client.process_xml(documents.list_offices(), None)
    assert len(slept) == 1 and 0 <= slept[0] <= 30


@responses.activate
def test_server_errors_on_reads_give_up_after_the_attempts() -> None:
    validation(responses.mock)
    for _ in range(3):
        responses.add(responses.POST, PROCESS, body="<html>oops</html>", status=502)
    client, slept = make_client(attempts=3)
    with pytest.raises(RetriableLedgerError, match="502"):
        client.process_xml(documents.list_offices(), None)
    assert len(slept) == 2


@responses.activate
def test_writes_are_not_retried_blindly() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body="<html>oops</html>", status=503)
    client, slept = make_client()
    doc = documents.match("NL1", documents.date(2026, 1, 1), [])
    with pytest.raises(RetriableLedgerError):
        client.process_xml(doc, "NL1")
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1
    assert slept == []


@responses.activate
def test_a_lost_answer_to_a_write_is_reported_not_repeated() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=requests.ReadTimeout("slow"))
    client, _ = make_client()
    doc = documents.match("NL1", documents.date(2026, 1, 1), [])
    with pytest.raises(RetriableLedgerError, match="looked up before"):
        client.process_xml(doc, "NL1")
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


@responses.activate
def test_timeouts_on_reads_are_retried() -> None:
    validation(responses.mock)
    responses.add(responses.POST, PROCESS, body=requests.ReadTimeout("slow"))
    responses.add(responses.POST, PROCESS, body=answer(fixture("offices.xml")))
    client, slept = make_client()
    client.process_xml(documents.list_offices(), None)
    assert len(slept) == 1


@responses.activate
def test_the_token_never_appears_in_errors_even_when_validation_fails() -> None:
    responses.add(
        responses.GET, VALIDATION, body=requests.ConnectionError(f"{VALIDATION}?token=token-one")
    )
    client, _ = make_client(attempts=1)
    with pytest.raises(RetriableLedgerError) as caught:
        client.process_xml(documents.list_offices(), None)
    assert "token-one" not in str(caught.value)


@responses.activate
def test_validation_without_a_cluster_needs_the_organisation_scope() -> None:
    responses.add(responses.GET, VALIDATION, json={"sub": "x"})
    client, _ = make_client()
    with pytest.raises(AuthError, match="twf.organisation"):
        client.process_xml(documents.list_offices(), None)


@responses.activate
def test_validation_refuses_a_plain_http_cluster_from_a_real_login() -> None:
    responses.add(responses.GET, VALIDATION, json={"twf.clusterUrl": "http://evil.example"})
    client, _ = make_client()
    with pytest.raises(AuthError):
        client.process_xml(documents.list_offices(), None)


@responses.activate
def test_finder_pages_and_errors() -> None:
    validation(responses.mock)
    responses.add(responses.POST, FINDER, body=fixture("finder_dim.xml"))
    responses.add(responses.POST, FINDER, body=fixture("finder_error.xml"))
    client, _ = make_client()
    page = client.finder("NL1", "DIM", options=[("dimtype", "DEB"), ("modifiedsince", "20260101")])
    assert page.total == 3
    assert page.rows == (("0042", "ACME B.V."), ("000100", "J. Jansen"))
    request = etree.fromstring(responses.calls[1].request.body)
    assert responses.calls[1].request.headers["SOAPAction"] == '"http://www.twinfield.com/Search"'
    options = [
        [s.text for s in pair]
        for pair in request.iterfind(f".//{{{TWF_NS}}}options/{{{TWF_NS}}}ArrayOfString")
    ]
    assert options == [["dimtype", "DEB"], ["modifiedsince", "20260101"]]
    with pytest.raises(LedgerError, match="invalid date"):
        client.finder("NL1", "DIM")


def test_one_budget_per_client_id_shared_by_every_connection() -> None:
    # Issue 14.13: the fair-use tiers are per ClientId, not per ledger object.
    budgets = Budgets()
    first = create_ledger({"client_id": "app-1"}, tokens=Tokens(), budgets=budgets)
    second = create_ledger({"client_id": "app-1"}, tokens=Tokens(), budgets=budgets)
    other = create_ledger(
        {"client_id": "app-2", "certified": True}, tokens=Tokens(), budgets=budgets
    )
    assert first.client.gate is second.client.gate
    assert first.client.gate.budget == 25
    assert other.client.gate is not first.client.gate and other.client.gate.budget == 500
    assert first.client.in_flight is not second.client.in_flight  # one call per organisation
    # the process default is shared too
    assert (
        create_ledger({"client_id": "app-3"}, tokens=Tokens()).client.gate
        is create_ledger({"client_id": "app-3"}, tokens=Tokens()).client.gate
    )


def test_a_shared_budget_keeps_two_connections_within_one_tier() -> None:
    now = [0.0]
    gate = CreditGate(25, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    budgets = Budgets(lambda _n: gate)
    ledgers = [
        create_ledger({"client_id": "a"}, tokens=Tokens(), budgets=budgets) for _ in range(2)
    ]
    for n in range(40):
        ledgers[n % 2].client.gate.acquire(1)
    assert gate.peak_window == 25
    assert now[0] == pytest.approx(61.0)  # the 26th credit waited for the window (+1 s margin)


def test_credit_gate_keeps_any_minute_within_the_budget() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    gate = CreditGate(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        gate.acquire(3)  # 9 credits at t=0
    assert now[0] == 0.0
    gate.acquire(3)  # would make 12: waits for the first spend to leave the window
    assert now[0] == pytest.approx(61.0)  # a minute, and a second for Twinfield's clock
    assert gate.peak_window == 9
    for _ in range(20):
        gate.acquire(1)
    assert gate.peak_window <= 10
