"""The HTTP client: paging, rate limits, the circuit breaker, retries and the error table."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from adapters.exact.auth import ExactSettings
from adapters.exact.client import ERROR_TABLE
from adapters.exact.client import Action
from adapters.exact.client import ExactClient
from adapters.exact.client import classify
from adapters.exact.client import dumps
from adapters.exact.client import reset_time
from connector.errors import AuthError
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import NotFound
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from tests.adapters.exact.exact_helpers import API
from tests.adapters.exact.exact_helpers import FakeClock
from tests.adapters.exact.exact_helpers import Tokens
from tests.adapters.exact.exact_helpers import fixture
from tests.adapters.exact.exact_helpers import raw

ACCOUNTS = f"{API}/api/v1/101/sync/CRM/Accounts"
ENTRIES = f"{API}/api/v1/101/financialtransaction/BankEntries"


def headers(
    minutely: int = 55, daily: int = 4900, reset_ms: int | None = None, now: float = 0
) -> dict[str, str]:
    reset = reset_ms if reset_ms is not None else int((now + 30) * 1000)
    return {
        "X-RateLimit-Minutely-Limit": "60",
        "X-RateLimit-Minutely-Remaining": str(minutely),
        "X-RateLimit-Minutely-Reset": str(reset),
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": str(daily),
        "X-RateLimit-Reset": str(int((now + 40_000) * 1000)),
    }


def make(clock: FakeClock, tokens: Tokens | None = None, **settings: object) -> ExactClient:
    values: dict[str, object] = {"retry_wait_seconds": 0.001}
    values.update(settings)
    return ExactClient(
        ExactSettings(**values),  # type: ignore[arg-type]
        tokens or Tokens(),
        clock=clock,
        sleep=clock.sleep,
    )


@responses.activate
def test_next_is_followed_exactly_as_given() -> None:
    clock = FakeClock()
    first = responses.get(ACCOUNTS, body=raw("sync_accounts_page1"), headers=headers(now=clock.now))
    next_url = fixture("sync_accounts_page1")["d"]["__next"]
    second = responses.get(
        next_url,
        body=raw("sync_accounts_page2"),
        match=[matchers.query_string_matcher(next_url.split("?", 1)[1])],
    )
    client = make(clock)
    pages = list(client.pages("101", "sync/CRM/Accounts", {"$filter": "Timestamp gt 1L"}))
    assert [len(p) for p in pages] == [2, 1]
    assert first.call_count == 1 and second.call_count == 1
    assert responses.calls[1].request.url == next_url  # not rebuilt, not re-encoded
    assert "$filter=Timestamp%20gt%201L" in responses.calls[0].request.url
    assert client.calls == 2


@responses.activate
def test_amounts_arrive_as_decimal() -> None:
    responses.get(f"{API}/api/v1/101/read/financial/ReceivablesList", body=raw("receivables_list"))
    rows = make(FakeClock()).rows("101", "read/financial/ReceivablesList")
    assert rows[0]["Amount"] == Decimal("60.50") and isinstance(rows[0]["Amount"], Decimal)


@responses.activate
def test_a_next_page_on_another_host_is_refused() -> None:
    responses.get(
        ACCOUNTS,
        json={"d": {"results": [], "__next": "https://evil.example/api/v1/101/x?$skiptoken=1"}},
    )
    with pytest.raises(LedgerError, match="another host"):
        list(make(FakeClock()).pages("101", "sync/CRM/Accounts"))
    assert len(responses.calls) == 1


@responses.activate
def test_paging_stops_at_max_pages() -> None:
    responses.get(ACCOUNTS, json={"d": {"results": [{}], "__next": ACCOUNTS + "?$skiptoken=a"}})
    with pytest.raises(LedgerError, match="more than 3 pages"):
        list(make(FakeClock()).pages("101", "sync/CRM/Accounts", max_pages=3))
    assert len(responses.calls) == 3


def counting(minutely: int, daily: int, reset_ms: int, clock: FakeClock):  # type: ignore[no-untyped-def]
    """A callback answering like Exact: the remainders go down with every call."""
    left = {"minutely": minutely, "daily": daily}

    def answer(request):  # type: ignore[no-untyped-def]
        left["minutely"] -= 1
        left["daily"] -= 1
        h = headers(left["minutely"], left["daily"], reset_ms=reset_ms, now=clock.now)
        return 200, h, '{"d": {"results": []}}'

    return answer


@responses.activate
def test_limiter_waits_for_the_minutely_reset_before_the_limit() -> None:
    clock = FakeClock()
    reset_ms = int((clock.now + 42) * 1000)
    responses.add_callback(responses.GET, ACCOUNTS, callback=counting(6, 4000, reset_ms, clock))
    client = make(clock, minutely_reserve=2, max_wait_seconds=120)
    for _ in range(3):
        client.get("101", "sync/CRM/Accounts")  # the answers: 5, 4, 3 left this minute
    assert clock.sleeps == []
    client.get("101", "sync/CRM/Accounts")  # the 4th still goes: 3 left, 2 after it
    assert clock.sleeps == []
    client.get("101", "sync/CRM/Accounts")  # at the reserve: waits for the reset first
    assert len(clock.sleeps) == 1 and clock.sleeps[0] == pytest.approx(42, abs=0.1)
    assert clock.now >= reset_ms / 1000
    assert len(responses.calls) == 5


@responses.activate
def test_divisions_have_their_own_limits() -> None:
    clock = FakeClock()
    responses.get(ACCOUNTS, json={"d": {"results": []}}, headers=headers(2, now=clock.now))
    other = f"{API}/api/v1/202/sync/CRM/Accounts"
    responses.get(other, json={"d": {"results": []}}, headers=headers(50, now=clock.now))
    client = make(clock, minutely_reserve=2)
    client.get("101", "sync/CRM/Accounts")
    client.get("202", "sync/CRM/Accounts")
    client.get("202", "sync/CRM/Accounts")
    assert clock.sleeps == []  # 202 is not held back by 101's spent minute
    client.get("101", "sync/CRM/Accounts")
    assert len(clock.sleeps) == 1


@responses.activate
def test_daily_reserve_stops_with_rate_limited_until_the_reset() -> None:
    clock = FakeClock()
    responses.add_callback(
        responses.GET, ACCOUNTS, callback=counting(50, 502, int((clock.now + 30) * 1000), clock)
    )
    client = make(clock, daily_reserve=500)
    client.get("101", "sync/CRM/Accounts")  # 501 left
    client.get("101", "sync/CRM/Accounts")  # 500 left: that is the reserve
    with pytest.raises(RateLimited, match="kept for write-backs") as caught:
        client.get("101", "sync/CRM/Accounts")
    assert caught.value.retry_after == pytest.approx(40_000, abs=1)
    assert len(responses.calls) == 2


@responses.activate
def test_daily_budget_is_spread_over_the_connections_divisions() -> None:
    clock = FakeClock()
    responses.get(ACCOUNTS, json={"d": {"results": []}})
    client = make(clock, daily_budget=9)
    client.limiter.divisions = 3
    for _ in range(3):
        client.get("101", "sync/CRM/Accounts")
    with pytest.raises(RateLimited, match="share"):
        client.get("101", "sync/CRM/Accounts")
    assert len(responses.calls) == 3


@responses.activate
def test_a_429_without_headers_waits_and_is_retried_and_is_no_error() -> None:
    clock = FakeClock()
    responses.get(ACCOUNTS, status=429, body="Too many requests")
    responses.get(ACCOUNTS, json={"d": {"results": [{"ID": 1}]}})
    client = make(clock, rate_limit_wait_seconds=61)
    assert client.rows("101", "sync/CRM/Accounts") == [{"ID": 1}]
    assert 61 in clock.sleeps
    assert client.breaker.count("101", "sync/CRM/Accounts") == 0


@responses.activate
def test_a_429_with_a_long_wait_is_reported_not_slept() -> None:
    clock = FakeClock()
    responses.get(ACCOUNTS, status=429)
    client = make(clock, rate_limit_wait_seconds=3600, max_wait_seconds=120)
    with pytest.raises(RateLimited) as caught:
        client.get("101", "sync/CRM/Accounts")
    assert caught.value.retry_after == 3600
    assert clock.sleeps == []


@responses.activate
def test_the_breaker_stops_an_endpoint_before_exact_blocks_it() -> None:
    clock = FakeClock()
    bad = responses.get(
        f"{API}/api/v1/101/crm/Accounts", status=400, body=raw("error_filter_missing")
    )
    good = responses.get(ACCOUNTS, json={"d": {"results": []}})
    client = make(clock, breaker_errors=5, breaker_window_seconds=3600)
    for _ in range(5):
        with pytest.raises(InputRejected, match="A required filter is missing"):
            client.get("101", "crm/Accounts")
    with pytest.raises(LedgerError, match="not called again"):
        client.get("101", "crm/Accounts")
    assert bad.call_count == 5  # the sixth never reached Exact
    client.get("101", "sync/CRM/Accounts")  # other endpoints go on
    assert good.call_count == 1
    clock.now += 3601  # the window has passed
    with pytest.raises(InputRejected):
        client.get("101", "crm/Accounts")
    assert bad.call_count == 6


@responses.activate
def test_get_is_retried_on_5xx_and_timeouts() -> None:
    clock = FakeClock()
    responses.get(ACCOUNTS, status=503)
    responses.get(ACCOUNTS, body=requests.ReadTimeout("slow"))
    responses.get(ACCOUNTS, json={"d": {"results": [{"ID": 7}]}})
    client = make(clock, retries=4)
    assert client.rows("101", "sync/CRM/Accounts") == [{"ID": 7}]
    assert len(responses.calls) == 3
    assert client.breaker.count("101", "sync/CRM/Accounts") == 0


@responses.activate
def test_get_gives_up_after_the_attempts() -> None:
    responses.get(ACCOUNTS, status=500)
    with pytest.raises(RetriableLedgerError, match="gave up after 3 attempts"):
        make(FakeClock(), retries=3).get("101", "sync/CRM/Accounts")
    assert len(responses.calls) == 3


@responses.activate
def test_a_post_is_not_retried_when_it_may_have_been_processed() -> None:
    responses.post(ENTRIES, status=502)
    client = make(FakeClock(), retries=4)
    with pytest.raises(RetriableLedgerError, match="HTTP 502"):
        client.post("101", "financialtransaction/BankEntries", {"JournalCode": "20"})
    assert len(responses.calls) == 1
    responses.replace(responses.POST, ENTRIES, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(RetriableLedgerError, match="looked up before it is sent again"):
        client.post("101", "financialtransaction/BankEntries", {"JournalCode": "20"})
    assert len(responses.calls) == 2


@responses.activate
def test_a_post_that_never_connected_is_retried() -> None:
    responses.post(ENTRIES, body=requests.ConnectTimeout("no route"))
    responses.post(ENTRIES, json=fixture("bank_entry_created"), status=201)
    created = make(FakeClock()).post("101", "financialtransaction/BankEntries", {"A": 1})
    assert created["EntryNumber"] == 26200017
    assert len(responses.calls) == 2


@responses.activate
def test_posts_carry_exact_decimal_literals_and_ask_for_the_entity() -> None:
    responses.post(ENTRIES, json=fixture("bank_entry_created"), status=201)
    make(FakeClock()).post("101", "financialtransaction/BankEntries", {"AmountFC": Decimal("0.10")})
    request = responses.calls[0].request
    assert request.body == b'{"AmountFC":0.10}'
    assert request.headers["Prefer"] == "return=representation"
    assert request.headers["Accept"] == "application/json"


def test_dumps_refuses_floats() -> None:
    with pytest.raises(TypeError, match="float"):
        dumps({"AmountFC": 0.1})


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, InputRejected, id="400"),
        pytest.param(401, AuthError, id="401"),
        pytest.param(403, LedgerError, id="403"),
        pytest.param(404, NotFound, id="404"),
        pytest.param(422, InputRejected, id="422"),
    ],
)
@responses.activate
def test_error_table(status: int, error: type[Exception]) -> None:
    responses.get(
        ACCOUNTS,
        status=status,
        json={"error": {"code": "", "message": {"lang": "", "value": "Nope"}}},
        headers={"Reason": "Because"},
    )
    tokens = Tokens()
    client = make(FakeClock(), tokens)
    with pytest.raises(error) as caught:
        client.get("101", "sync/CRM/Accounts")
    assert "Nope Because" in str(caught.value)
    assert tokens.token not in str(caught.value)
    assert tokens.rejected_calls == 0  # Exact's tokens are refreshed on schedule, never on 401
    assert len(responses.calls) == 1
    assert client.breaker.count("101", "sync/CRM/Accounts") == 1


def test_classification() -> None:
    assert classify(200) is Action.OK and classify(204) is Action.OK
    assert classify(500) is Action.RETRY and classify(504) is Action.RETRY
    assert classify(429) is Action.RATE_LIMITED
    assert classify(418) is Action.REJECTED
    assert ERROR_TABLE[401] is Action.AUTH


def test_reset_headers_in_epoch_ms_or_relative_ms() -> None:
    assert reset_time(1_780_000_042_000, 1_780_000_000.0) == pytest.approx(1_780_000_042.0)
    assert reset_time(42_000, 1_780_000_000.0) == pytest.approx(1_780_000_042.0)
    assert reset_time(None, 0.0) is None


@responses.activate
def test_the_token_is_sent_but_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    responses.get(ACCOUNTS, status=400, json={"error": {"message": {"value": "bad"}}})
    tokens = Tokens()
    with pytest.raises(InputRejected):
        make(FakeClock(), tokens).get("101", "sync/CRM/Accounts")
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {tokens.token}"
    assert tokens.token not in caplog.text


def test_current_me_has_no_division_in_its_url() -> None:
    client = make(FakeClock())
    assert client.url("current", "current/Me") == f"{API}/api/v1/current/Me"
    assert client.endpoint_of(f"{API}/api/v1/101/crm/Accounts?$filter=x") == "crm/Accounts"
    assert client.endpoint_of(f"{API}/api/v1/current/Me") == "current/Me"
