"""A small Mollie API client: read payments (with refunds and chargebacks), create payment links.

Authenticated with the tenant's API key (`Authorization: Bearer live_.../test_...`). Reads are
retried on connection errors, timeouts, 429 and 5xx with a short backoff (tenacity), within
the 15 seconds Mollie gives a webhook; a POST carries an `Idempotency-Key` so its retry is safe.

Lists are read page by page: each page asks for `limit=250` (Mollie's largest) and the next
one is `_links.next.href`, followed until it is null (issue 15.5: a reusable payment link
with more than 250 payments lost the rest). A next link is only followed to the configured
`api_url` (the API key is never sent elsewhere), and at most `MAX_PAGES` pages are read; more
is an error, never a silently shortened list.

Errors: `RetriableLedgerError` when Mollie could not be reached or refused the key (the edge
answers 5xx and Mollie calls again, up to 26 hours later), `LedgerError` for other refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import requests
from tenacity import Retrying
from tenacity import retry_if_exception_type
from tenacity import stop_after_attempt
from tenacity import wait_exponential
from tenacity import wait_random

from connector.errors import LedgerError
from connector.errors import RetriableLedgerError

DEFAULT_API_URL = "https://api.mollie.com"
_PAGE = 250  # Mollie's largest page
MAX_PAGES = 400  # 100,000 items: a bound on every list loop


class _Transient(Exception):
    def __init__(self, error: RetriableLedgerError) -> None:
        super().__init__(str(error))
        self.error = error


class MollieClient:
    def __init__(
        self,
        api_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 5.0,
        attempts: int = 2,
        wait_initial: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self._api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.wait_initial = wait_initial
        self._session = session or requests.Session()

    # --- reads ---------------------------------------------------------------------------

    def get_payment(self, payment_id: str) -> dict[str, Any] | None:
        """The payment with its refunds and chargebacks embedded; None if Mollie does not
        know it (404/410)."""
        return self._request(
            "GET", f"/v2/payments/{payment_id}", params={"embed": "refunds,chargebacks"}
        )

    def list_refunds(self, payment_id: str) -> list[dict[str, Any]]:
        return self._list(f"/v2/payments/{payment_id}/refunds", "refunds")

    def list_chargebacks(self, payment_id: str) -> list[dict[str, Any]]:
        return self._list(f"/v2/payments/{payment_id}/chargebacks", "chargebacks")

    def list_link_payments(self, link_id: str) -> list[dict[str, Any]] | None:
        """The payments made through a payment link; None if Mollie does not know the link."""
        pages = self.pages(f"/v2/payment-links/{link_id}/payments", "payments")
        found: list[dict[str, Any]] | None = None
        for page in pages:
            found = (found or []) + page
        return found

    def recent_chargebacks(
        self, keep_going: Callable[[Mapping[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        """The account's chargebacks, newest first, each with its payment embedded, read
        page by page while `keep_going(chargeback)` holds (Mollie lists newest first)."""
        found: list[dict[str, Any]] = []
        for page in self.pages("/v2/chargebacks", "chargebacks", {"embed": "payment"}):
            for chargeback in page:
                if not keep_going(chargeback):
                    return found
                found.append(chargeback)
        return found

    def _list(self, path: str, name: str) -> list[dict[str, Any]]:
        return [item for page in self.pages(path, name) for item in page]

    def pages(
        self, path: str, name: str, params: Mapping[str, str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list (`_embedded[name]`), following `_links.next` to its end.

        Nothing is yielded when Mollie does not know the parent (404/410).
        """
        query = {**dict(params or {}), "limit": str(_PAGE)}
        for number in range(MAX_PAGES):
            found = self._request("GET", path, params=query)
            if found is None:
                if number:  # a page that vanished halfway: the list would be short
                    msg = f"Mollie's next page {path} answered 404; the list is incomplete"
                    raise RetriableLedgerError(msg, status=404)
                return
            yield _embedded(found, name)
            href = _next_href(found)
            if href is None:
                return
            path, query = self._relative(href)
        msg = f"Mollie's list {path} has more than {MAX_PAGES} pages; not read to its end"
        raise LedgerError(msg)

    def _relative(self, href: str) -> tuple[str, dict[str, str]]:
        """The path and query of a next link, which must point at our own api_url."""
        base, link = urlsplit(self.api_url), urlsplit(href)
        prefix = base.path.rstrip("/")
        same = (link.scheme, link.netloc) == (base.scheme, base.netloc)
        if not same or not link.path.startswith(f"{prefix}/"):
            msg = f"Mollie's next link leaves {self.api_url}; not followed"
            raise LedgerError(msg)
        return link.path[len(prefix) :], dict(parse_qsl(link.query, keep_blank_values=True))

    # --- writes --------------------------------------------------------------------------

    def create_payment_link(self, body: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
        found = self._request(
            "POST", "/v2/payment-links", json=dict(body), idempotency_key=idempotency_key
        )
        if found is None:
            msg = "Mollie answered 404 to creating a payment link"
            raise LedgerError(msg, status=404)
        return found

    # --- plumbing ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any] | None:
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_exponential(multiplier=self.wait_initial, max=4)
            + wait_random(0, self.wait_initial),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, params, json, idempotency_key)
        except _Transient as exc:
            raise exc.error from None
        msg = "unreachable"
        raise AssertionError(msg)  # pragma: no cover

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/hal+json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._session.request(
                method,
                f"{self.api_url}{path}",
                params=dict(params or {}),
                json=None if json is None else dict(json),
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            msg = f"Mollie could not be reached ({type(exc).__name__})"
            raise _Transient(RetriableLedgerError(msg)) from exc
        status = response.status_code
        if status in (404, 410):
            return None
        if status == 429 or status >= 500:
            msg = f"Mollie answered {status} to {method} {path}"
            raise _Transient(RetriableLedgerError(msg, status=status))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if status in (401, 403):
            # the tenant's key is wrong or revoked: let Mollie call again once it is fixed
            msg = f"Mollie refused the API key ({status}): {_detail(payload)}"
            raise RetriableLedgerError(msg, status=status)
        if not 200 <= status < 300:
            msg = f"Mollie refused {method} {path} ({status}): {_detail(payload)}"
            raise LedgerError(msg, status=status)
        if not isinstance(payload, dict):
            msg = f"Mollie answered {method} {path} with something that is not a JSON object"
            raise RetriableLedgerError(msg, status=status)
        return payload


def _embedded(payload: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    embedded = payload.get("_embedded")
    items = embedded.get(name) if isinstance(embedded, Mapping) else None
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _next_href(payload: Mapping[str, Any]) -> str | None:
    links = payload.get("_links")
    following = links.get("next") if isinstance(links, Mapping) else None
    href = following.get("href") if isinstance(following, Mapping) else None
    return href if isinstance(href, str) and href else None


def _detail(payload: Any) -> str:
    if isinstance(payload, dict):
        detail = payload.get("detail") or payload.get("title")
        if isinstance(detail, str):
            return detail[:300]
    return "no detail"
