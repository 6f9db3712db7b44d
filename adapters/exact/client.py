"""HTTP to Exact Online: requests + tenacity, `__next` paging, rate limits, error mapping.

Every call goes through `ExactClient._send`, which in this order

1. refuses at once when the (division, endpoint) circuit is open (`CircuitBreaker`);
2. waits for, or refuses, the division's rate limits (`RateLimiter.before`);
3. takes a valid access token from the core (`AccessTokens.access_token`; the core
   refreshes at 570 s, so a 401 is never answered with a refresh here);
4. sends, reads the six `X-RateLimit-*` headers of the answer (`RateLimiter.after`) and
   classifies the status through `ERROR_TABLE`.

Rate limits (per division: Exact counts 60 calls a minute and 5,000 a day per app per
company). The limiter keeps what the headers last said and counts down locally between
answers. When the minutely remainder reaches `minutely_reserve` it sleeps until the
minutely reset (epoch milliseconds); when the day's remainder reaches `daily_reserve` (kept
for write-backs and webhook re-reads) it stops with `RateLimited` until the daily reset. A
connection-wide `daily_budget`, when set, is spread evenly over the connection's divisions.
A 429 (which may come without headers) waits for the minutely reset or
`rate_limit_wait_seconds` and is retried; it never counts as an error. A 429 whose headers
say the day's calls are spent (`X-RateLimit-Remaining: 0`) stops at once with `RateLimited`
until the daily reset: waiting a minute first would only earn another 429.

Circuit breaker. Exact blocks an app for an hour after 10 errors (4xx) in an hour on one
endpoint of one division. The breaker counts 4xx answers (not 429) per (division, endpoint)
in a sliding window and, at `breaker_errors` (5 by default), refuses further calls to that
endpoint until the oldest counted error leaves the window; other endpoints go on.

Retries. GETs are retried by tenacity on 5xx, timeouts and dropped connections
(exponential backoff with jitter, `retries` attempts). A POST or DELETE is retried only when
it cannot have reached Exact (the connection was never made); otherwise it raises
`RetriableLedgerError` and the caller (the outbox) decides, after looking its idempotency
key up.

Paging follows `d.__next` exactly as given, never builds a `$skiptoken`, refuses a `__next`
on another host (the token must not leave Exact), and stops after `max_pages`.

No token and no response body with a token ever reaches a log line or an error message.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import requests
from tenacity import Retrying
from tenacity import retry_if_exception_type
from tenacity import stop_after_attempt
from tenacity import wait_random_exponential
from urllib3.exceptions import NewConnectionError

from adapters.exact.auth import ExactSettings
from connector.errors import AuthError
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import NotFound
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.ports import AccessTokens

logger = logging.getLogger(__name__)

Row = Mapping[str, Any]
Clock = Callable[[], float]  # epoch seconds
Sleep = Callable[[float], None]

STANDARD_PAGE = 60  # rows per page of a standard endpoint
BULK_PAGE = 1000  # rows per page of a bulk or sync endpoint
DEFAULT_MAX_PAGES = 10_000  # a runaway guard: 10 million rows at 1,000 a page
NO_DIVISION = "current"  # `current/Me` is the one call without a division in its URL
_EPOCH_MS_FLOOR = 10**11  # below this a reset header is read as milliseconds from now


class Action(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # 5xx: try again with backoff
    RATE_LIMITED = "rate limited"  # 429: wait for the reset, try again
    AUTH = "auth"  # 401: the token was refused
    FORBIDDEN = "forbidden"  # 403: the user may not do this in this division
    NOT_FOUND = "not found"  # 404
    REJECTED = "rejected"  # 400 and other 4xx: the request is wrong


#: How each status is handled; 2xx is OK, 5xx RETRY, any other 4xx REJECTED.
ERROR_TABLE: Mapping[int, Action] = {
    400: Action.REJECTED,
    401: Action.AUTH,
    403: Action.FORBIDDEN,
    404: Action.NOT_FOUND,
    405: Action.REJECTED,
    409: Action.REJECTED,
    429: Action.RATE_LIMITED,
}


def classify(status: int) -> Action:
    if 200 <= status < 300:
        return Action.OK
    if status >= 500:
        return Action.RETRY
    return ERROR_TABLE.get(status, Action.REJECTED)


def counts_as_error(status: int) -> bool:
    """What Exact counts towards its hourly error block: 4xx answers except 429."""
    return 400 <= status < 500 and status != 429


class _Transient(Exception):
    """Worth another attempt inside the client (GET 5xx, timeouts, 429)."""


def _clean(text: object, limit: int = 200) -> str:
    value = "".join(ch if ch.isprintable() else " " for ch in str(text or "")).strip()
    return value[:limit]


def error_message(response: requests.Response) -> str:
    """Exact's error text: `{"error":{"message":{"value":...}}}` and the Reason header."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message")
            text = message.get("value", "") if isinstance(message, Mapping) else str(message or "")
        elif isinstance(error, str):
            text = str(body.get("error_description") or error)
    reason = response.headers.get("Reason", "")
    return _clean(" ".join(part for part in (str(text), reason) if part)) or response.reason


def _query(params: Mapping[str, str]) -> str:
    # OData wants `$filter=...` with the dollar sign as is and quotes kept readable.
    return "&".join(f"{k}={quote(str(v), safe=chr(39) + '(),:')}" for k, v in params.items())


# --- rate limits ---------------------------------------------------------------------------


@dataclass
class Window:
    """One rate-limit window as the headers last described it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds


@dataclass
class DivisionState:
    minutely: Window
    daily: Window
    spent_today: int = 0
    day_reset_at: float | None = None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def reset_time(value: int | None, now: float) -> float | None:
    """A reset header as epoch seconds: Exact sends epoch milliseconds; a small number is
    read as milliseconds from now, so a differently written header still means a wait."""
    if value is None:
        return None
    if value < _EPOCH_MS_FLOOR:
        return now + value / 1000
    return value / 1000


class RateLimiter:
    """Per-division rate limits of one connection (see the module docstring)."""

    def __init__(self, settings: ExactSettings, *, clock: Clock, sleep: Sleep) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._states: dict[str, DivisionState] = {}
        self._lock = threading.Lock()
        self.divisions = 1  # the connection's divisions, for spreading `daily_budget`
        self.waited_seconds = 0.0

    def state(self, division: str) -> DivisionState:
        found = self._states.get(division)
        if found is None:
            found = DivisionState(Window(), Window())
            self._states[division] = found
        return found

    def daily_share(self) -> int | None:
        budget = self.settings.daily_budget
        return None if budget is None else max(1, budget // max(1, self.divisions))

    def before(self, division: str) -> None:
        """Wait for the minutely window or refuse when the day's budget is spent.

        Raises:
            RateLimited: the division's daily budget is used up (or a wait would be longer
                than `max_wait_seconds`).
        """
        with self._lock:
            now = self._clock()
            state = self.state(division)
            self._roll_day(state, now)
            daily = state.daily
            if daily.remaining is not None and daily.remaining <= self.settings.daily_reserve:
                wait = (daily.reset_at or now + 86400) - now
                msg = (
                    f"Exact division {division}: {daily.remaining} calls left today, kept for "
                    f"write-backs; try again after the daily reset in {wait / 3600:.1f} h"
                )
                raise RateLimited(msg, retry_after=max(wait, 0.0))
            share = self.daily_share()
            if share is not None and state.spent_today >= share:
                wait = (state.day_reset_at or now + 86400) - now
                msg = (
                    f"Exact division {division}: this division's share of the connection's "
                    f"daily budget ({share} calls) is spent; try again after the daily reset"
                )
                raise RateLimited(msg, retry_after=max(wait, 0.0))
            wait = self._minutely_wait(state, now)
            if wait > self.settings.max_wait_seconds:
                msg = f"Exact division {division}: the minute's calls are spent"
                raise RateLimited(msg, retry_after=wait)
        if wait > 0:
            logger.info("Exact division %s: waiting %.1f s for the minutely reset", division, wait)
            self.waited_seconds += wait
            self._sleep(wait)
            with self._lock:
                minutely = self.state(division).minutely
                minutely.remaining = None  # a fresh window: the next answer tells
                minutely.reset_at = None
        with self._lock:
            state = self.state(division)
            state.spent_today += 1
            for window in (state.minutely, state.daily):
                if window.remaining is not None:
                    window.remaining -= 1

    def _minutely_wait(self, state: DivisionState, now: float) -> float:
        minutely = state.minutely
        if minutely.remaining is None or minutely.remaining > self.settings.minutely_reserve:
            return 0.0
        if minutely.reset_at is None or minutely.reset_at <= now:
            minutely.remaining = None
            return 0.0
        return minutely.reset_at - now + 0.05

    def _roll_day(self, state: DivisionState, now: float) -> None:
        if state.day_reset_at is not None and now >= state.day_reset_at:
            state.spent_today = 0
            state.day_reset_at = None
            state.daily = Window(limit=state.daily.limit)

    def after(self, division: str, headers: Mapping[str, str]) -> None:
        """Take what the answer's `X-RateLimit-*` headers say."""
        with self._lock:
            now = self._clock()
            state = self.state(division)
            for window, prefix in (
                (state.minutely, "X-RateLimit-Minutely-"),
                (state.daily, "X-RateLimit-"),
            ):
                remaining = _header_int(headers, prefix + "Remaining")
                if remaining is None:
                    continue
                window.remaining = remaining
                limit = _header_int(headers, prefix + "Limit")
                if limit is not None:
                    window.limit = limit
                reset = reset_time(_header_int(headers, prefix + "Reset"), now)
                if reset is not None:
                    window.reset_at = reset
            if state.daily.reset_at is not None:
                state.day_reset_at = state.daily.reset_at

    def daily_spent(self, division: str, headers: Mapping[str, str]) -> float | None:
        """After a 429: the seconds until the daily reset when the headers say the day's
        calls are spent, else None (a minutely 429)."""
        if _header_int(headers, "X-RateLimit-Remaining") != 0:
            return None
        with self._lock:
            now = self._clock()
            daily = self.state(division).daily
            daily.remaining = 0
            reset = reset_time(_header_int(headers, "X-RateLimit-Reset"), now)
            if reset is not None:
                daily.reset_at = reset
            return max((daily.reset_at or now + 86400) - now, 0.0)

    def on_429(self, division: str, headers: Mapping[str, str]) -> float:
        """How long to wait after a 429: until the minutely reset if it is told, else the
        configured wait. Marks the window as spent."""
        self.after(division, headers)
        with self._lock:
            now = self._clock()
            minutely = self.state(division).minutely
            if minutely.reset_at is not None and minutely.reset_at > now:
                wait = minutely.reset_at - now + 0.05
            else:
                wait = self.settings.rate_limit_wait_seconds
            minutely.remaining = 0
            minutely.reset_at = now + wait
            return wait


# --- circuit breaker -------------------------------------------------------------------------


class CircuitBreaker:
    """Counts 4xx answers per (division, endpoint) and stops before Exact's block."""

    def __init__(self, threshold: int, window: float, *, clock: Clock) -> None:
        self.threshold = threshold
        self.window = window
        self._clock = clock
        self._errors: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        errors = self._errors.setdefault(key, deque())
        while errors and errors[0] <= now - self.window:
            errors.popleft()
        return errors

    def check(self, division: str, endpoint: str) -> None:
        """Raises LedgerError while the circuit for this endpoint is open."""
        with self._lock:
            now = self._clock()
            errors = self._recent((division, endpoint), now)
            if len(errors) < self.threshold:
                return
            reopen = errors[0] + self.window - now
        msg = (
            f"Exact division {division}: {endpoint} gave {len(errors)} errors within the "
            f"hour, so it is not called again for {reopen / 60:.0f} min (Exact blocks the app "
            "for an hour at 10); see the earlier errors for the cause"
        )
        raise LedgerError(msg)

    def record(self, division: str, endpoint: str) -> int:
        with self._lock:
            now = self._clock()
            errors = self._recent((division, endpoint), now)
            errors.append(now)
            return len(errors)

    def count(self, division: str, endpoint: str) -> int:
        with self._lock:
            return len(self._recent((division, endpoint), self._clock()))


# --- the client --------------------------------------------------------------------------------


def _not_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return any(
        isinstance(arg, NewConnectionError)
        or isinstance(getattr(arg, "reason", None), NewConnectionError)
        for arg in exc.args
    )


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]
    next_url: str | None


class ExactClient:
    """One connection's HTTP client for every division it reaches."""

    def __init__(
        self,
        settings: ExactSettings,
        tokens: AccessTokens,
        *,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self._tokens = tokens
        self._session = session or requests.Session()
        self._clock = clock
        self._sleep = sleep
        self.limiter = RateLimiter(settings, clock=clock, sleep=sleep)
        self.breaker = CircuitBreaker(
            settings.breaker_errors, settings.breaker_window_seconds, clock=clock
        )
        self._host = urlsplit(settings.api_url).netloc
        self.calls = 0
        self.calls_by_division: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ExactClient({self.settings.api_url!r})"

    # --- URLs ------------------------------------------------------------------------------

    def url(self, division: str, path: str, params: Mapping[str, str] | None = None) -> str:
        base = f"{self.settings.api_url}/api/v1/"
        base += path if division == NO_DIVISION else f"{division}/{path}"
        return f"{base}?{_query(params)}" if params else base

    def endpoint_of(self, url: str) -> str:
        """The endpoint a URL calls, without division and query: `crm/Accounts`."""
        path = urlsplit(url).path
        marker = "/api/v1/"
        rest = path[path.find(marker) + len(marker) :] if marker in path else path
        first, _, remainder = rest.partition("/")
        return remainder if first.isdigit() else rest

    # --- calls ---------------------------------------------------------------------------

    def get(self, division: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One GET; the `d` of the answer."""
        return self._send("GET", division, self.url(division, path, params))

    def page(self, division: str, url: str) -> Page:
        if urlsplit(url).netloc != self._host:
            msg = f"Exact gave a next page on another host ({urlsplit(url).netloc}); refused"
            raise LedgerError(msg)
        d = self._send("GET", division, url)
        if not isinstance(d, Mapping):
            msg = f"Exact answered {self.endpoint_of(url)} without a result list"
            raise LedgerError(msg)
        results = d.get("results")
        if not isinstance(results, list):
            results = [d]
        next_url = d.get("__next")
        return Page(
            rows=results, next_url=next_url if isinstance(next_url, str) and next_url else None
        )

    def pages(
        self,
        division: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> Iterator[Sequence[Row]]:
        """Every page, following `__next` exactly as given.

        Raises:
            LedgerError: more than `max_pages` pages (a runaway), or a broken answer.
        """
        url: str | None = self.url(division, path, params)
        count = 0
        while url is not None:
            if count >= max_pages:
                msg = f"Exact {path}: more than {max_pages} pages; stopped"
                raise LedgerError(msg)
            page = self.page(division, url)
            count += 1
            yield page.rows
            url = page.next_url

    def rows(self, division: str, path: str, params: Mapping[str, str] | None = None) -> list[Row]:
        return [row for page in self.pages(division, path, params) for row in page]

    def post(self, division: str, path: str, body: Mapping[str, Any]) -> Any:
        """A POST that returns the created entity (`Prefer: return=representation`)."""
        data = dumps(body)
        headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
        return self._send("POST", division, self.url(division, path), data=data, headers=headers)

    def delete(self, division: str, path: str) -> None:
        self._send("DELETE", division, self.url(division, path))

    def upload_xml(self, division: str, topic: str, xml: bytes) -> str:
        """The XML API's upload (`/docs/XMLUpload.aspx`); the answer's text."""
        url = (
            f"{self.settings.api_url}/docs/XMLUpload.aspx?Topic={quote(topic)}"
            f"&_Division_={quote(division)}"
        )
        return str(
            self._send(
                "POST",
                division,
                url,
                data=xml,
                headers={"Content-Type": "application/xml"},
                raw=True,
            )
        )

    # --- the one place that sends ------------------------------------------------------------

    def _send(
        self,
        method: str,
        division: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        endpoint = self.endpoint_of(url)
        self.breaker.check(division, endpoint)
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries),
            wait=wait_random_exponential(
                multiplier=self.settings.retry_wait_seconds,
                max=max(self.settings.retry_wait_seconds * 30, 0.001),
            ),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, division, url, endpoint, data, headers, raw)
        except _Transient as exc:
            msg = f"Exact {endpoint}: {exc} (gave up after {self.settings.retries} attempts)"
            raise RetriableLedgerError(msg) from None
        msg = "unreachable: tenacity neither returned nor raised"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _attempt(
        self,
        method: str,
        division: str,
        url: str,
        endpoint: str,
        data: bytes | None,
        extra: Mapping[str, str] | None,
        raw: bool,
    ) -> Any:
        self.breaker.check(division, endpoint)
        self.limiter.before(division)
        token = self._tokens.access_token()
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
        headers.update(extra or {})
        try:
            response = self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=(min(5.0, self.settings.timeout_seconds), self.settings.timeout_seconds),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            reason = type(exc).__name__
            if method == "GET" or _not_sent(exc):
                msg = f"no answer ({reason})"
                raise _Transient(msg) from None
            msg = (
                f"Exact {endpoint}: no answer to the {method} ({reason}); it may have been "
                "processed, so it is looked up before it is sent again"
            )
            raise RetriableLedgerError(msg) from None
        self.calls += 1
        self.calls_by_division[division] = self.calls_by_division.get(division, 0) + 1
        self.limiter.after(division, response.headers)
        action = classify(response.status_code)
        if action is Action.OK:
            return self._body(response, endpoint, raw)
        if action is Action.RATE_LIMITED:
            self.limiter.after(division, response.headers)
            daily = self.limiter.daily_spent(division, response.headers)
            if daily is not None:
                msg = (
                    f"Exact division {division}: the daily limit of calls is reached (HTTP 429 "
                    f"on {endpoint}); try again after the daily reset in {daily / 3600:.1f} h"
                )
                raise RateLimited(msg, retry_after=daily)
            wait = self.limiter.on_429(division, response.headers)
            if wait > self.settings.max_wait_seconds:
                msg = f"Exact division {division} is rate limited ({endpoint})"
                raise RateLimited(msg, retry_after=wait)
            logger.warning("Exact division %s: 429 on %s; waiting %.1f s", division, endpoint, wait)
            self.limiter.waited_seconds += wait
            self._sleep(wait)
            msg = "rate limited (429)"
            raise _Transient(msg)
        message = error_message(response)
        status = response.status_code
        if action is Action.RETRY:
            if method == "GET":
                msg = f"HTTP {status} {message}"
                raise _Transient(msg)
            msg = f"Exact {endpoint}: HTTP {status} {message}; try again later"
            raise RetriableLedgerError(msg, status=status)
        errors = self.breaker.record(division, endpoint)
        logger.warning(
            "Exact division %s: HTTP %s on %s (%s errors within the window)",
            division,
            status,
            endpoint,
            errors,
        )
        where = f"Exact division {division}, {endpoint}"
        if action is Action.AUTH:
            msg = (
                f"{where}: the access token was refused (HTTP 401 {message}); tokens are "
                "refreshed on schedule, not on a 401: if this persists, connect again"
            )
            raise AuthError(msg)
        if action is Action.FORBIDDEN:
            msg = f"{where}: not allowed (HTTP 403 {message}); check the user's rights in Exact"
            raise LedgerError(msg, status=status)
        if action is Action.NOT_FOUND:
            msg = f"{where}: not found (HTTP 404 {message})"
            raise NotFound(msg)
        msg = f"{where}: Exact rejected the request (HTTP {status} {message})"
        raise InputRejected(msg, problems=(message,))

    def _body(self, response: requests.Response, endpoint: str, raw: bool) -> Any:
        if raw:
            return response.text
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            msg = f"Exact {endpoint}: the answer is not JSON"
            raise LedgerError(msg) from None
        if not isinstance(body, Mapping) or "d" not in body:
            msg = f"Exact {endpoint}: the answer has no 'd'"
            raise LedgerError(msg)
        return body["d"]


_DECIMAL_MARK = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(body: Mapping[str, Any]) -> bytes:
    """JSON with Decimal amounts written as exact number literals (never through float)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return "\u0000dec:" + format(value, "f")
        if isinstance(value, Mapping):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mark(v) for v in value]
        if isinstance(value, float):
            msg = "a float in a request body; amounts must be Decimal"
            raise TypeError(msg)
        return value

    text = json.dumps(mark(body), separators=(",", ":"))
    return _DECIMAL_MARK.sub(r"\1", text).encode()
