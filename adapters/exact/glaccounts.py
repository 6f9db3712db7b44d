"""The receivables G/L account of a division: what every payment line is booked on.

Exact marks `GLAccount` mandatory on bank and cash entry lines and refuses a line without it
("Grootboekrekening is verplicht"); each refusal counts towards its hourly error block. A
customer's payment belongs on the account its receivables are booked on, so the account is
found in Exact, per division, in this order:

1. a code the user set (`receivables_gl_codes` for the division, else `receivables_gl_code`):
   `financial/GLAccounts` by code. It must exist, be of type 20 (Accounts receivable) and
   not be blocked. A code, never an ID: a person can read and check a code, and the same
   code names the account in every division.
2. otherwise the division's accounts of type 20 that are not blocked: with exactly one,
   that is it (a Dutch standard chart has one, 1300 Debiteuren);
3. with several, the one the paid invoice itself is booked on: its payment term's
   `GLAccount` (`cashflow/Receivables`, documented as "must be of type 20").

None at all cannot be guessed: `problems` says so for `connector check`, and a payment
raises `ConfigError` before anything is sent to Exact.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.exact import mapping
from adapters.exact.auth import ExactSettings
from adapters.exact.client import ExactClient
from adapters.exact.mapping import MappingError
from connector.errors import ConfigError
from connector.errors import LedgerError

GL_ACCOUNTS = "financial/GLAccounts"
GL_FIELDS = "ID,Code,Type,IsBlocked"
ACCOUNTS_RECEIVABLE = 20  # financial/GLAccounts Type: 20 = Accounts receivable


@dataclass(frozen=True, slots=True)
class GLAccount:
    id: str  # the GUID entry lines take
    code: str  # what the XML API and a person use


@dataclass(frozen=True, slots=True)
class Receivables:
    """A division's receivables accounts: `chosen` when one is known for the whole
    division, else the candidates among which each invoice's own is taken."""

    chosen: GLAccount | None
    candidates: tuple[GLAccount, ...]


def _accounts(rows: Sequence[mapping.Row]) -> list[GLAccount]:
    found: list[GLAccount] = []
    for row in rows:
        try:
            found.append(GLAccount(id=mapping.guid(row.get("ID")), code=mapping.code(row["Code"])))
        except (MappingError, KeyError) as exc:
            msg = f"Exact sent a G/L account without a usable ID or Code: {exc}"
            raise LedgerError(msg) from None
    return found


class ReceivablesAccounts:
    """Finds (and remembers, per division) the receivables G/L account; see the module doc."""

    def __init__(self, client: ExactClient, settings: ExactSettings) -> None:
        self._client = client
        self._settings = settings
        self._known: dict[str, Receivables] = {}
        self._lock = threading.Lock()

    def division(self, division: str) -> Receivables:
        """Raises:
        ConfigError: the account cannot be resolved (the message says what to set)."""
        with self._lock:
            known = self._known.get(division)
        if known is not None:
            return known
        found = self._resolve(division)
        with self._lock:
            self._known[division] = found
        return found

    def for_invoice(self, division: str, account: str, invoice_number: str) -> GLAccount:
        """The account a payment on this invoice of this customer is booked on.

        Raises:
            ConfigError: it cannot be resolved.
        """
        receivables = self.division(division)
        if receivables.chosen is not None:
            return receivables.chosen
        number = invoice_number.strip()
        rows = []
        if number.isdigit():
            rows = self._client.rows(
                division,
                "cashflow/Receivables",
                {
                    "$filter": (
                        f"Account eq {mapping.odata_guid(account)} and InvoiceNumber eq {number}"
                    ),
                    "$select": "GLAccount",
                },
            )
        by_id = {gl.id: gl for gl in receivables.candidates}
        for row in rows:
            value = row.get("GLAccount")
            if value and str(value).lower() in by_id:
                return by_id[str(value).lower()]
        codes = ", ".join(gl.code for gl in receivables.candidates)
        msg = (
            f"Exact division {division} has several receivables G/L accounts ({codes}) and "
            f"invoice {invoice_number} names none of them; set [ledgers.exact] "
            "receivables_gl_code (or receivables_gl_codes for this division) to the code"
        )
        raise ConfigError(msg)

    def _resolve(self, division: str) -> Receivables:
        code = self._settings.gl_code_for(division)
        if code:
            rows = self._client.rows(
                division,
                GL_ACCOUNTS,
                {"$filter": f"trim(Code) eq {mapping.odata_string(code)}", "$select": GL_FIELDS},
            )
            if not rows:
                msg = (
                    f"[ledgers.exact] receivables_gl_code: division {division} has no G/L "
                    f"account with code {code!r}; set the code of its debtors account"
                )
                raise ConfigError(msg)
            row = rows[0]
            if row.get("Type") != ACCOUNTS_RECEIVABLE or row.get("IsBlocked") is True:
                msg = (
                    f"[ledgers.exact] receivables_gl_code: G/L account {code!r} of division "
                    f"{division} is {'blocked' if row.get('IsBlocked') else 'not of type 20'}"
                    " (Accounts receivable); set the code of its debtors account"
                )
                raise ConfigError(msg)
            (configured,) = _accounts([row])
            return Receivables(chosen=configured, candidates=(configured,))
        rows = self._client.rows(
            division,
            GL_ACCOUNTS,
            {
                "$filter": f"Type eq {ACCOUNTS_RECEIVABLE} and IsBlocked eq false",
                "$select": GL_FIELDS,
            },
        )
        candidates = tuple(_accounts(rows))
        if not candidates:
            msg = (
                f"Exact division {division} has no G/L account of type Accounts receivable "
                "to book payments on; set [ledgers.exact] receivables_gl_code to the code of "
                "its debtors account"
            )
            raise ConfigError(msg)
        chosen = candidates[0] if len(candidates) == 1 else None
        return Receivables(chosen=chosen, candidates=candidates)
