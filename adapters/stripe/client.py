"""A small Stripe API client for what the payment links need: prices and payment links.

Requests are form-encoded (Stripe's API), authenticated with the secret key, and carry an
`Idempotency-Key`, so a retry after a lost answer returns the first result instead of making
a second object. Connection errors, timeouts, 429 and 5xx are retried with backoff and jitter
(tenacity); anything else fails at once with Stripe's own error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import requests
from tenacity import Retrying
from tenacity import retry_if_exception_type
from tenacity import stop_after_attempt
from tenacity import wait_exponential
from tenacity import wait_random

from connector.errors import ConnectorError

DEFAULT_API_URL = "https://api.stripe.com"


class StripeApiError(ConnectorError):
    """Stripe refused the request or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retriable = retriable


class _Transient(Exception):
    def __init__(self, error: StripeApiError) -> None:
        super().__init__(str(error))
        self.error = error


def form_encode(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's bracket notation: {"a": {"b": 1}, "l": [{"x": 2}]} -> a[b]=1, l[0][x]=2."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs.extend(_encode_value(name, value))
    return pairs


def _encode_value(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return form_encode(value, name)
    if isinstance(value, list | tuple):
        pairs: list[tuple[str, str]] = []
        for index, item in enumerate(value):
            pairs.extend(_encode_value(f"{name}[{index}]", item))
        return pairs
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    return [(name, str(value))]


class StripeClient:
    def __init__(
        self,
        api_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        attempts: int = 3,
        wait_initial: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self._api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.wait_initial = wait_initial
        self._session = session or requests.Session()

    def post(self, path: str, params: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
        """POST form-encoded params; the parsed JSON answer.

        Raises:
            StripeApiError: Stripe refused the request, or stayed unreachable after retries.
        """
        data = form_encode(params)
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_exponential(multiplier=self.wait_initial, max=8)
            + wait_random(0, self.wait_initial),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._post_once(path, data, idempotency_key)
        except _Transient as exc:
            raise exc.error from None
        msg = "unreachable"
        raise AssertionError(msg)  # pragma: no cover

    def _post_once(
        self, path: str, data: Sequence[tuple[str, str]], idempotency_key: str
    ) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        try:
            response = self._session.post(
                url,
                data=list(data),
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Idempotency-Key": idempotency_key,
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            error = StripeApiError(
                f"Stripe could not be reached ({type(exc).__name__})", retriable=True
            )
            raise _Transient(error) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            error = StripeApiError(f"Stripe answered {status}", status=status, retriable=True)
            raise _Transient(error)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not 200 <= status < 300:
            msg = f"Stripe refused {path} ({status}): {_error_message(payload)}"
            raise StripeApiError(msg, status=status)
        if not isinstance(payload, dict):
            msg = f"Stripe answered {path} with something that is not JSON"
            raise StripeApiError(msg)
        return payload


def _error_message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
    return "no error message"
