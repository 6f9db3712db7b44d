"""The Moneybird HTTP client: rate limit, Retry-After, retries, 401 refresh, errors, paging."""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal
from email.utils import formatdate

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from adapters.moneybird.auth import Settings
from adapters.moneybird.client import MoneybirdClient
from adapters.moneybird.client import RateLimiter
from adapters.moneybird.client import retry_after_seconds
from adapters.moneybird.client import rule_for
from connector.errors import AuthError
from connector.errors import LedgerError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from tests.fakes.moneybird import StubTokens

API = "https://moneybird.test/api/v2"
EPOCH = 1_773_148_000.0


class FakeClock:
    """Monotonic and wall clock in one; `sleep` moves time on instead of waiting."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock():
    with responses.RequestsMock(registry=OrderedRegistry) as rsps:
        yield rsps


def make_client(clock: FakeClock, tokens: StubTokens | None = None, **settings) -> MoneybirdClient:
    config = Settings(api_url=API, **settings)
    limiter = RateLimiter(
        config.rate_limit_requests,
        config.rate_limit_window_seconds,
        clock=clock.monotonic,
        sleep=clock.sleep,
    )
    return MoneybirdClient(
        config,
        tokens or StubTokens("token-one", "token-two"),
        limiter=limiter,
        sleep=clock.sleep,
        wall_clock=clock.wall,
    )


URL = f"{API}/123/contacts/1.json"


# --- plain requests ------------------------------------------------------------------------


def test_get_sends_the_bearer_token_and_reads_numbers_as_decimals(mock, clock) -> None:
    mock.get(
        URL,
        body='{"id": "1", "max_transfer_amount": 12.10, "n": 3}',
        match=[matchers.header_matcher({"Authorization": "Bearer token-one"})],
    )
    body = make_client(clock).get("123/contacts/1.json")
    assert body["max_transfer_amount"] == Decimal("12.10")
    assert isinstance(body["max_transfer_amount"], Decimal)
    assert body["n"] == 3


def test_a_2xx_that_is_not_json_is_retriable(mock, clock) -> None:
    mock.get(URL, body="<html>maintenance</html>", status=200)
    with pytest.raises(RetriableLedgerError, match="no JSON"):
        make_client(clock).get("123/contacts/1.json")


# --- 429 and Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        (str(int(EPOCH) + 7), 7.0),  # Moneybird: an absolute epoch
        ("4", 4.0),  # RFC: relative seconds
        ("Tue, 10 Mar 2026 13:06:52 GMT", None),  # RFC: an HTTP date (checked below)
    ],
)
def test_429_waits_for_retry_after_then_retries(
    mock, clock, header: str, wait: float | None
) -> None:
    mock.get(URL, status=429, json="Retry later", headers={"Retry-After": header})
    mock.get(URL, json={"id": "1"})
    client = make_client(clock)
    assert client.get("123/contacts/1.json") == {"id": "1"}
    assert client.throttled == 1 and client.requests_sent == 2
    expected = wait if wait is not None else retry_after_seconds(header, EPOCH)
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(expected)


def test_an_absolute_retry_after_is_read_against_moneybirds_clock(mock, clock) -> None:
    # Moneybird's clock is 60 s behind ours; its Retry-After is 5 s after its own now.
    server_now = int(EPOCH) - 60
    headers = {
        "Date": formatdate(server_now, usegmt=True),
        "Retry-After": str(server_now + 5),
    }
    mock.get(URL, status=429, json="Retry later", headers=headers)
    mock.get(URL, json={"id": "1"})
    make_client(clock).get("123/contacts/1.json")
    assert clock.sleeps[0] == pytest.approx(5.0)


def test_429_without_retry_after_uses_ratelimit_reset(mock, clock) -> None:
    mock.get(URL, status=429, json="Retry later", headers={"RateLimit-Reset": str(int(EPOCH) + 12)})
    mock.get(URL, json={"id": "1"})
    make_client(clock).get("123/contacts/1.json")
    assert clock.sleeps[0] == pytest.approx(12.0)


def test_429_holds_back_every_other_request_too(mock, clock) -> None:
    mock.get(URL, status=429, json="Retry later", headers={"Retry-After": str(int(EPOCH) + 30)})
    client = make_client(clock, max_attempts=1)
    with pytest.raises(RateLimited):
        client.get("123/contacts/1.json")
    mock.get(URL, json={"id": "1"})
    client.get("123/contacts/1.json")  # waits for the hold, not for tenacity
    assert clock.t == pytest.approx(30.0)


def test_a_wait_longer_than_allowed_fails_at_once(mock, clock) -> None:
    mock.get(URL, status=429, json="Retry later", headers={"Retry-After": str(int(EPOCH) + 3600)})
    with pytest.raises(RateLimited) as caught:
        make_client(clock, max_wait_seconds=330).get("123/contacts/1.json")
    assert caught.value.retry_after == pytest.approx(3600)
    assert clock.sleeps == []


def test_429_after_every_attempt_is_rate_limited(mock, clock) -> None:
    for _ in range(3):
        mock.get(URL, status=429, json="Retry later", headers={"Retry-After": "2"})
    client = make_client(clock, max_attempts=3)
    with pytest.raises(RateLimited, match="must wait"):
        client.get("123/contacts/1.json")
    assert client.requests_sent == 3


def test_ratelimit_remaining_zero_pauses_before_a_429(mock, clock) -> None:
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(EPOCH) + 20)}
    mock.get(URL, json={"id": "1"}, headers=headers)
    mock.get(URL, json={"id": "1"})
    client = make_client(clock)
    client.get("123/contacts/1.json")
    assert clock.t == 0
    client.get("123/contacts/1.json")
    assert clock.t == pytest.approx(20.0)


# --- 5xx, timeouts, and which requests may be repeated -------------------------------------


def test_5xx_is_retried_with_backoff_for_reads(mock, clock) -> None:
    mock.get(URL, status=503, json={"error": "down"})
    mock.get(URL, status=502, body="<html>bad gateway</html>")
    mock.get(URL, json={"id": "1"})
    client = make_client(clock)
    assert client.get("123/contacts/1.json") == {"id": "1"}
    assert client.requests_sent == 3
    assert len(clock.sleeps) == 2 and all(0 <= s <= 30 for s in clock.sleeps)


def test_5xx_every_time_is_retriable_after_the_attempts(mock, clock) -> None:
    for _ in range(4):
        mock.get(URL, status=500, json={"error": "boom"})
    client = make_client(clock, max_attempts=4)
    with pytest.raises(RetriableLedgerError) as caught:
        client.get("123/contacts/1.json")
    assert caught.value.status == 500
    assert client.requests_sent == 4


PAY = f"{API}/123/sales_invoices/9/payments.json"


def test_a_write_is_not_repeated_after_a_5xx(mock, clock) -> None:
    mock.post(PAY, status=500, json={"error": "boom"})
    client = make_client(clock)
    with pytest.raises(RetriableLedgerError):
        client.post("123/sales_invoices/9/payments.json", {"payment": {}})
    assert client.requests_sent == 1


def test_a_write_is_not_repeated_after_a_read_timeout(mock, clock) -> None:
    mock.post(PAY, body=requests.ReadTimeout("slow"))
    client = make_client(clock)
    with pytest.raises(RetriableLedgerError, match="no answer in time"):
        client.post("123/sales_invoices/9/payments.json", {"payment": {}})
    assert client.requests_sent == 1


def test_a_write_is_repeated_when_it_never_left(mock, clock) -> None:
    mock.post(PAY, body=requests.ConnectTimeout("no route"))
    mock.post(PAY, status=429, json="Retry later", headers={"Retry-After": "1"})
    mock.post(PAY, status=201, json={"id": "5"})
    client = make_client(clock)
    assert client.post("123/sales_invoices/9/payments.json", {"payment": {}}) == {"id": "5"}
    assert client.requests_sent == 3


def test_reads_are_repeated_after_timeouts_and_dropped_connections(mock, clock) -> None:
    mock.get(URL, body=requests.ReadTimeout("slow"))
    mock.get(URL, body=requests.ConnectionError("reset by peer"))
    mock.get(URL, json={"id": "1"})
    assert make_client(clock).get("123/contacts/1.json") == {"id": "1"}


# --- 4xx and 401 ---------------------------------------------------------------------------


def test_4xx_is_reported_with_moneybirds_message_and_not_retried(mock, clock, load) -> None:
    mock.post(f"{API}/123/sales_invoices/9/notes.json", status=422, json=load("error_422"))
    client = make_client(clock)
    with pytest.raises(LedgerError) as caught:
        client.post("123/sales_invoices/9/notes.json", {"note": {}})
    assert caught.value.status == 422
    assert "note can't be blank" in str(caught.value)
    assert "todo_type can't be blank" in str(caught.value)
    assert client.requests_sent == 1


def test_404_message(mock, clock, load) -> None:
    mock.get(URL, status=404, json=load("error_404"))
    with pytest.raises(LedgerError, match=r"HTTP 404 not found: record not found") as caught:
        make_client(clock).get("123/contacts/1.json")
    assert not isinstance(caught.value, RetriableLedgerError)


def test_401_gets_one_new_token_and_one_retry(mock, clock) -> None:
    tokens = StubTokens("token-one", "token-two")
    mock.get(URL, status=401, json={"error": "expired"})
    mock.get(
        URL,
        json={"id": "1"},
        match=[matchers.header_matcher({"Authorization": "Bearer token-two"})],
    )
    assert make_client(clock, tokens).get("123/contacts/1.json") == {"id": "1"}
    assert tokens.rejections == ["token-one"]


def test_401_twice_is_an_auth_error_that_names_no_token(mock, clock, load, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = StubTokens("secret-token-aaa", "secret-token-bbb")
    mock.get(URL, status=401, json=load("error_401_scope"))
    mock.get(URL, status=401, json=load("error_401_scope"))
    with pytest.raises(AuthError) as caught:
        make_client(clock, tokens).get("123/contacts/1.json")
    text = str(caught.value)
    assert "No access to [:sales_invoices, :documents]" in text
    assert "connector connect moneybird" in text
    assert tokens.rejections == ["secret-token-aaa"]
    for secret in tokens.tokens:
        assert secret not in text
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (201, "ok"),
        (204, "ok"),
        (400, "rejected"),
        (401, "unauthorized"),
        (402, "rejected"),
        (403, "rejected"),
        (404, "rejected"),
        (418, "rejected"),
        (422, "rejected"),
        (429, "throttled"),
        (500, "transient"),
        (503, "transient"),
        (599, "transient"),
    ],
)
def test_status_table(status: int, outcome: str) -> None:
    assert rule_for(status).outcome == outcome


# --- paging and the synchronization API ----------------------------------------------------


def test_pages_ask_for_100_and_follow_the_next_link(mock, clock) -> None:
    first = f"{API}/123/contacts.json"
    mock.get(
        first,
        json=[{"id": "1"}],
        match=[matchers.query_param_matcher({"per_page": "100", "query": "x"})],
        headers={"Link": f'<{API}/123/contacts.json?page=2&per_page=100&query=x>; rel="next"'},
    )
    mock.get(
        first,
        json=[{"id": "2"}],
        match=[matchers.query_param_matcher({"page": "2", "per_page": "100", "query": "x"})],
        headers={"Link": f'<{API}/123/contacts.json?page=1&per_page=100&query=x>; rel="prev"'},
    )
    pages = list(make_client(clock).pages("123/contacts.json", {"query": "x"}))
    assert pages == [[{"id": "1"}], [{"id": "2"}]]


def test_pages_never_send_the_token_to_another_host(mock, clock) -> None:
    mock.get(
        f"{API}/123/contacts.json",
        json=[{"id": "1"}],
        headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
    )
    pages = make_client(clock).pages("123/contacts.json")
    assert next(pages) == [{"id": "1"}]
    with pytest.raises(LedgerError, match="another host"):
        next(pages)


def test_fetch_asks_for_at_most_100_ids_at_a_time(mock, clock) -> None:
    url = f"{API}/123/contacts/synchronization.json"
    ids = [str(n) for n in range(1, 251)]
    for start in (0, 100, 200):
        batch = ids[start : start + 100]
        mock.post(
            url,
            json=[{"id": i} for i in batch],
            match=[matchers.json_params_matcher({"ids": batch})],
        )
    batches = list(make_client(clock).fetch("123", "contacts", ids))
    assert [len(b) for b, _rows in batches] == [100, 100, 50]
    assert [len(rows) for _b, rows in batches] == [100, 100, 50]


def test_versions(mock, clock, load) -> None:
    mock.get(
        f"{API}/123/sales_invoices/synchronization.json",
        json=load("sales_invoices_synchronization"),
        match=[matchers.query_param_matcher({"filter": "state:open"})],
    )
    assert make_client(clock).versions("123", "sales_invoices", "state:open") == {
        "481221152235063180": 1732089600,
        "481221138437899902": 1773148262,
    }


# --- the rate limiter ----------------------------------------------------------------------


def test_limiter_allows_the_limit_then_waits_for_the_oldest_answer(clock) -> None:
    limiter = RateLimiter(3, 10.0, clock=clock.monotonic, sleep=clock.sleep)
    for at in (0.0, 1.0, 2.0):
        clock.t = at
        limiter.acquire()
        limiter.release()
    limiter.acquire()  # the 4th within 10 s must wait until the first answer is 10 s old
    assert clock.t == pytest.approx(10.0)


def test_limiter_counts_from_the_answer_not_from_the_send(clock) -> None:
    limiter = RateLimiter(1, 10.0, clock=clock.monotonic, sleep=clock.sleep)
    limiter.acquire()
    clock.t = 4.0  # a slow answer
    limiter.release()
    limiter.acquire()
    assert clock.t == pytest.approx(14.0)


def test_limiter_counts_requests_in_flight() -> None:
    limiter = RateLimiter(2, 0.2)
    limiter.acquire()
    limiter.acquire()
    done = threading.Event()

    def third() -> None:
        limiter.acquire()
        done.set()

    thread = threading.Thread(target=third)
    started = time.monotonic()
    thread.start()
    assert not done.wait(0.1)  # both slots are in flight
    limiter.release()
    thread.join(timeout=2)
    assert done.is_set()
    assert time.monotonic() - started >= 0.2  # a full window after that answer


def test_limiter_hold(clock) -> None:
    limiter = RateLimiter(100, 10.0, clock=clock.monotonic, sleep=clock.sleep)
    limiter.hold_for(5.0)
    limiter.acquire()
    assert clock.t == pytest.approx(5.0)


def test_client_stays_under_the_limit_without_a_429(clock) -> None:
    sent: list[float] = []

    def callback(request):
        sent.append(clock.t)
        return 200, {}, json.dumps({"id": "1"})

    client = make_client(clock, rate_limit_requests=5, rate_limit_window_seconds=60)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, URL, callback=callback)
        for _ in range(12):
            client.get("123/contacts/1.json")
    for i, at in enumerate(sent):
        assert sum(1 for other in sent[: i + 1] if other > at - 60) <= 5
    assert clock.t == pytest.approx(120.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("30", 30.0),
        ("1.5", 1.5),
        (str(int(EPOCH) + 45), 45.0),
        (str(int(EPOCH) - 45), 0.0),  # already passed
        ("Tue, 10 Mar 2026 13:07:20 GMT", 1_773_148_040.0 - EPOCH),
    ],
)
def test_retry_after_forms(value: str | None, seconds: float | None) -> None:
    found = retry_after_seconds(value, EPOCH)
    assert found == (None if seconds is None else pytest.approx(seconds))
