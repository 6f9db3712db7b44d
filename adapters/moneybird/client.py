"""HTTP to Moneybird: the rate limiter, retries, paging, the synchronization API, errors.

Rate limit. Moneybird allows 150 requests per 5 minutes, for the whole platform, and answers
429 beyond that with `Retry-After` and `RateLimit-Reset` as absolute UTC epoch seconds (the
openapi spec; Moneybird's own CLI parses it so). The client keeps under the limit by itself: a
sliding window counts every request from the moment it is sent until the answer has arrived,
so no window of the server's (sliding or fixed) can ever see more than the limit, however the
latency varies. All requests of one connection share one limiter, also across threads. A 429
is honoured all the same: Retry-After as relative seconds, an absolute epoch or an HTTP date
(an absolute time is read against the answer's `Date`, Moneybird's own clock), and the
limiter holds every other request back until then; `RateLimit-Remaining: 0` does the
same before a 429 happens (another program may use the same grant).

Retries (tenacity, exponential backoff with jitter): 429 after its Retry-After; 5xx, timeouts
and dropped connections only for requests that are safe to repeat (GETs, and the POSTs that
only read). A write that may have reached Moneybird is not repeated here: it fails as
`RetriableLedgerError` and the caller looks for it by its idempotency key before writing
again. A 401 gets one new token from the core (`AccessTokens.rejected`) and one retry. Any
other 4xx is not retried and is reported with Moneybird's own error message.

No token ever appears in a log line or an error message: only the method, the path and the
status are logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from typing import Final
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState
from tenacity import Retrying
from tenacity import retry_if_exception
from tenacity import stop_after_attempt
from tenacity import wait_random_exponential

from adapters.moneybird.auth import Settings
from connector.errors import AuthError
from connector.errors import LedgerError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.ports import AccessTokens

logger = logging.getLogger(__name__)

PER_PAGE: Final = 100  # the documented maximum of per_page
SYNC_BATCH: Final = 100  # "Returns a maximum of 100 ... even if more ids are provided"
MAX_PAGES: Final = 10_000  # a runaway guard: a million records per listing
_EPOCH_THRESHOLD: Final = 1_000_000_000  # a Retry-After above this is a timestamp, not seconds


# --- the rate limiter ----------------------------------------------------------------------


class RateLimiter:
    """At most `limit` requests in any `window` seconds, counted from send to answer.

    `acquire` blocks until a request may go out; `release` marks its answer received. A
    `hold_until` (a 429, or `RateLimit-Remaining: 0`) stops every request until then.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._done: deque[float] = deque()  # when answers arrived, oldest first
        self._in_flight = 0
        self._held_until = 0.0
        self.waited = 0.0  # seconds spent waiting, for the benchmark and the logs

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._done and self._done[0] <= now - self.window:
                    self._done.popleft()
                held = self._held_until - now
                if held <= 0 and len(self._done) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                if held > 0:
                    wait = held
                elif self._done:
                    wait = self._done[0] + self.window - now
                else:  # every slot is in flight: wait for an answer
                    wait = min(0.01, self.window)
            wait = min(max(wait, 0.001), self.window + max(held, 0.0))
            self.waited += wait
            self._sleep(wait)

    def release(self) -> None:
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)
            self._done.append(self._clock())

    def hold_for(self, seconds: float) -> None:
        """Let no request out for `seconds` from now."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After (or RateLimit-Reset) header as seconds from `now` (epoch seconds).

    Moneybird sends an absolute epoch; the RFC allows relative seconds or an HTTP date.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        return max(moment.timestamp() - now, 0.0)
    if number >= _EPOCH_THRESHOLD:
        return max(number - now, 0.0)
    return max(number, 0.0)


# --- errors --------------------------------------------------------------------------------


class _Throttled(Exception):  # noqa: N818 - an internal signal for tenacity
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait:.1f} s")
        self.wait = wait


class _Transient(Exception):  # noqa: N818 - an internal signal for tenacity
    """5xx or a network failure; `sent` says the request may have reached Moneybird."""

    def __init__(self, message: str, *, status: int | None, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.sent = sent


@dataclass(frozen=True, slots=True)
class _Rule:
    """What a status means: its outcome and what a person reads."""

    outcome: str  # "ok", "unauthorized", "throttled", "transient" or "rejected"
    meaning: str = ""


# How each status is handled. Anything not listed: 2xx ok, 5xx transient, other 4xx rejected.
STATUS_RULES: Final[Mapping[int, _Rule]] = {
    400: _Rule("rejected", "bad request"),
    401: _Rule("unauthorized", "the access token was refused"),
    402: _Rule("rejected", "the administration has no active Moneybird subscription"),
    403: _Rule("rejected", "forbidden; the Moneybird user may lack the rights for this"),
    404: _Rule("rejected", "not found"),
    405: _Rule("rejected", "method not allowed"),
    406: _Rule("rejected", "not acceptable"),
    408: _Rule("transient", "request timeout"),
    409: _Rule("rejected", "conflict"),
    422: _Rule("rejected", "not accepted"),
    429: _Rule("throttled", "too many requests"),
    500: _Rule("transient", "server error"),
    502: _Rule("transient", "bad gateway"),
    503: _Rule("transient", "service unavailable"),
    504: _Rule("transient", "gateway timeout"),
}


def rule_for(status: int) -> _Rule:
    found = STATUS_RULES.get(status)
    if found is not None:
        return found
    if status < 400:  # 3xx: a download's redirect to a temporary file URL
        return _Rule("ok")
    if status >= 500:
        return _Rule("transient", "server error")
    return _Rule("rejected", "request refused")


def _flatten(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{key} {_flatten(inner)}" for key, inner in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flatten(inner) for inner in value)
    return str(value)


def error_message(response: requests.Response) -> str:
    """Moneybird's own words from an error body (`{"error": ...}`), on one short line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and "error" in body:
        text = _flatten(body["error"])
    elif isinstance(body, str):
        text = body
    else:
        text = ""
    text = " ".join(text.split())
    return text[:300]


# --- the client ----------------------------------------------------------------------------


class MoneybirdClient:
    """JSON over HTTP to one Moneybird grant; paths are relative to `Settings.api_url`."""

    def __init__(
        self,
        settings: Settings,
        tokens: AccessTokens,
        *,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._tokens = tokens
        self._http = session or requests.Session()
        self.limiter = limiter or RateLimiter(
            settings.rate_limit_requests, settings.rate_limit_window_seconds, sleep=sleep
        )
        self._sleep = sleep
        self._now = wall_clock
        self._origin = urlsplit(settings.api_url)[:2]
        self.requests_sent = 0
        self.throttled = 0  # 429 answers received

    def __repr__(self) -> str:
        return f"MoneybirdClient({self.settings.api_url!r})"

    # --- the public calls ------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._json(self._call("GET", self._url(path), params=params, safe=True))

    def post(self, path: str, body: Mapping[str, Any], *, safe: bool = False) -> Any:
        """POST a JSON body; `safe` when repeating it cannot write anything twice."""
        return self._json(self._call("POST", self._url(path), body=body, safe=safe))

    def download(self, path: str) -> bytes:
        """A file behind `path`: Moneybird redirects to a temporary URL that needs no token."""
        response = self._call("GET", self._url(path), safe=True)
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            if not location:
                msg = f"Moneybird redirected {urlsplit(response.url).path} without a Location"
                raise RetriableLedgerError(msg, status=response.status_code)
            try:
                response = self._http.get(
                    urljoin(response.url, location), timeout=self.settings.timeout_seconds
                )
            except requests.RequestException as exc:
                msg = f"Moneybird's file could not be fetched ({type(exc).__name__})"
                raise RetriableLedgerError(msg) from None
            if response.status_code != 200:
                msg = f"Moneybird's file answered HTTP {response.status_code}"
                raise RetriableLedgerError(msg, status=response.status_code)
        return bytes(response.content)

    def pages(self, path: str, params: Mapping[str, str] | None = None) -> Iterator[list[Any]]:
        """Every page of a listing, `per_page=100`, following `Link: rel="next"`."""
        url: str | None = self._url(path)
        query: dict[str, str] | None = {**(params or {}), "per_page": str(PER_PAGE)}
        for _ in range(MAX_PAGES):
            assert url is not None
            response = self._call("GET", url, params=query, safe=True)
            body = self._json(response)
            if not isinstance(body, list):
                msg = f"Moneybird answered {urlsplit(url).path} with something other than a list"
                raise LedgerError(msg, status=response.status_code)
            yield body
            url = response.links.get("next", {}).get("url")
            if not url:
                return
            if urlsplit(url)[:2] != self._origin:
                msg = "Moneybird's next-page link points to another host; refusing to follow it"
                raise LedgerError(msg)
            query = None  # the link carries the query
        msg = f"more than {MAX_PAGES} pages from {path}; stopped"
        raise LedgerError(msg)

    def versions(
        self, administration: str, resource: str, filter_: str | None = None
    ) -> dict[str, int]:
        """`GET {resource}/synchronization`: id -> version of every matching record."""
        params = {"filter": filter_} if filter_ else None
        rows = self.get(f"{administration}/{resource}/synchronization.json", params)
        if not isinstance(rows, list):
            msg = f"Moneybird's {resource} synchronization list is not a list"
            raise LedgerError(msg)
        return {str(row["id"]): int(row["version"]) for row in rows}

    def fetch(
        self, administration: str, resource: str, ids: Sequence[str]
    ) -> Iterator[tuple[list[str], list[Any]]]:
        """`POST {resource}/synchronization`: the full records, 100 ids per request.

        Yields each batch of ids with the records Moneybird returned for it (a deleted
        record is simply missing from the answer).
        """
        for start in range(0, len(ids), SYNC_BATCH):
            batch = list(ids[start : start + SYNC_BATCH])
            rows = self.post(
                f"{administration}/{resource}/synchronization.json", {"ids": batch}, safe=True
            )
            if not isinstance(rows, list):
                msg = f"Moneybird's {resource} synchronization answer is not a list"
                raise LedgerError(msg)
            yield batch, rows

    # --- internals -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.settings.api_url}/{path.lstrip('/')}"

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            msg = (
                f"Moneybird answered {urlsplit(response.url).path} with HTTP "
                f"{response.status_code} but no JSON"
            )
            raise RetriableLedgerError(msg, status=response.status_code) from None

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        safe: bool,
    ) -> requests.Response:
        def retry(exc: BaseException) -> bool:
            if isinstance(exc, _Throttled):
                return exc.wait <= self.settings.max_wait_seconds
            return isinstance(exc, _Transient) and (safe or not exc.sent)

        backoff = wait_random_exponential(multiplier=0.5, max=30)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Throttled):
                return exc.wait
            return float(backoff(state))

        path = urlsplit(url).path
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=wait,
                retry=retry_if_exception(retry),
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    return self._authorized(method, url, params, body)
        except _Throttled as exc:
            msg = f"Moneybird's rate limit: {method} {path} must wait {exc.wait:.0f} s"
            raise RateLimited(msg, retry_after=exc.wait) from None
        except _Transient as exc:
            msg = f"Moneybird {method} {path} failed: {exc.message}"
            raise RetriableLedgerError(msg, status=exc.status) from None
        msg = "unreachable"
        raise AssertionError(msg)  # pragma: no cover - Retrying returns or raises

    def _authorized(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
    ) -> requests.Response:
        token = self._tokens.access_token()
        response = self._send(method, url, params, body, token)
        outcome = rule_for(response.status_code).outcome
        if outcome == "unauthorized":
            token = self._tokens.rejected(token)
            response = self._send(method, url, params, body, token)
            outcome = rule_for(response.status_code).outcome
            if outcome == "unauthorized":
                detail = error_message(response)
                msg = (
                    "Moneybird refused the connection's access token twice"
                    + (f" ({detail})" if detail else "")
                    + "; connect again with: connector connect moneybird"
                )
                raise AuthError(msg)
        return self._outcome(method, url, response, outcome)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        token: str,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        path = urlsplit(url).path
        self.limiter.acquire()
        try:
            self.requests_sent += 1
            response = self._http.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=self.settings.timeout_seconds,
                allow_redirects=False,
            )
        except requests.ConnectTimeout as exc:
            message = f"could not connect ({type(exc).__name__})"
            raise _Transient(message, status=None, sent=False) from None
        except requests.ConnectionError as exc:
            message = f"network failure ({type(exc).__name__})"
            raise _Transient(message, status=None, sent=not _refused(exc)) from None
        except requests.Timeout as exc:
            message = f"no answer in time ({type(exc).__name__})"
            raise _Transient(message, status=None, sent=True) from None
        finally:
            self.limiter.release()
        remaining = response.headers.get("RateLimit-Remaining")
        logger.debug(
            "moneybird %s %s -> %s (rate limit remaining %s)",
            method,
            path,
            response.status_code,
            remaining,
        )
        if remaining is not None and remaining.strip() == "0":
            reset = retry_after_seconds(
                response.headers.get("RateLimit-Reset"), self._server_now(response)
            )
            if reset is not None:
                self.limiter.hold_for(min(reset, self.settings.rate_limit_window_seconds))
        return response

    def _server_now(self, response: requests.Response) -> float:
        """Moneybird's clock (its `Date` header), so that an absolute Retry-After is read
        against the clock that wrote it; ours when the header is missing."""
        stated = response.headers.get("Date")
        if stated:
            try:
                moment = parsedate_to_datetime(stated)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return moment.timestamp()
        return self._now()

    def _outcome(
        self, method: str, url: str, response: requests.Response, outcome: str
    ) -> requests.Response:
        status = response.status_code
        path = urlsplit(url).path
        if outcome == "ok":
            return response
        if outcome == "throttled":
            self.throttled += 1
            now = self._server_now(response)
            wait = retry_after_seconds(response.headers.get("Retry-After"), now)
            if wait is None:
                wait = retry_after_seconds(response.headers.get("RateLimit-Reset"), now)
            if wait is None:
                wait = self.settings.rate_limit_window_seconds / 10
            wait = max(wait, 0.05)
            logger.warning("moneybird %s %s -> 429; waiting %.1f s", method, path, wait)
            self.limiter.hold_for(wait)
            raise _Throttled(wait)
        rule = rule_for(status)
        detail = error_message(response)
        if outcome == "transient":
            msg = f"HTTP {status} {rule.meaning}"
            raise _Transient(msg, status=status, sent=True)
        text = f"Moneybird {method} {path}: HTTP {status} {rule.meaning}"
        if detail:
            text += f": {detail}"
        raise LedgerError(text, status=status)


def _refused(exc: requests.ConnectionError) -> bool:
    """Whether the connection was never made (so the request was not sent)."""
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


__all__ = [
    "PER_PAGE",
    "STATUS_RULES",
    "SYNC_BATCH",
    "MoneybirdClient",
    "RateLimiter",
    "error_message",
    "retry_after_seconds",
    "rule_for",
]
