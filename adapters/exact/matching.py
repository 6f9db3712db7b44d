"""Matching a booked payment with its invoice through Exact's XML API (`match_payments =
"xml"`): Exact's REST API cannot match, its XML API can (`MatchSets`), and Exact has
announced that the XML API will be retired, so this stays optional.

A match set names the receivables G/L account, the debtor, and one line per entry with its
financial year and period. Exact's REST reference gives those under different names per
resource: `ReportingYear`/`ReportingPeriod` on `salesentry/SalesEntries`,
`FinancialYear`/`FinancialPeriod` on bank and cash entries; each is read under its own
name (a name the resource does not have is a 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import quoteattr

from adapters.exact import mapping
from adapters.exact.client import ExactClient
from adapters.exact.glaccounts import GLAccount
from connector.domain import Administration
from connector.domain import OpenItem
from connector.errors import LedgerError

SALES_FIELDS = "EntryNumber,ReportingYear,ReportingPeriod,Journal"
BANK_FIELDS = "EntryNumber,FinancialYear,FinancialPeriod,JournalCode"


def match_booking(
    client: ExactClient,
    administration: Administration,
    item: OpenItem,
    *,
    account: str,
    gl: GLAccount,
    journal: str,
    cash: bool,
    entry_number: int,
    amount: Decimal,
) -> None:
    """Match the booked line (`entry_number`, `amount`) with the item's invoice.

    Raises:
        ConnectorError: it was not matched (a read or the upload was refused, or the item
            cannot be matched here); the caller leaves it to the accountant.
    """
    division = administration.external_id
    parsed = mapping.parse_item_key(item.external_id)
    if parsed is None:
        msg = f"{item.external_id!r} is not an Exact item key"
        raise LedgerError(msg)
    if item.open_amount.currency != administration.currency:
        msg = f"the invoice is in {item.open_amount.currency}; match it in Exact"
        raise LedgerError(msg)
    invoice_entry = parsed[0]
    where = f"EntryNumber eq {invoice_entry} and Customer eq {mapping.odata_guid(account)}"
    sales = client.rows(
        division, "salesentry/SalesEntries", {"$filter": where, "$select": SALES_FIELDS}
    )
    banks = client.rows(
        division,
        "financialtransaction/CashEntries" if cash else "financialtransaction/BankEntries",
        {"$filter": f"EntryNumber eq {entry_number}", "$select": BANK_FIELDS},
    )
    if not sales or not banks:
        msg = f"the {'sales' if not sales else 'bank'} entry was not found to match"
        raise LedgerError(msg)
    sale, bank = sales[0], banks[0]
    xml = matchset_xml(
        gl_code=gl.code,
        account_code=item.debtor_code,
        lines=(
            (
                (sale.get("ReportingYear"), sale.get("ReportingPeriod")),
                str(sale.get("Journal", "")),
                invoice_entry,
                amount,
            ),
            (
                (bank.get("FinancialYear"), bank.get("FinancialPeriod")),
                journal,
                entry_number,
                -amount,
            ),
        ),
    )
    answer = client.upload_xml(division, "MatchSets", xml)
    if 'type="0"' in answer:
        msg = "the XML API refused the match set"
        raise LedgerError(msg)


def matchset_xml(
    *,
    gl_code: str,
    account_code: str,
    lines: Sequence[tuple[tuple[object, object], str, int, Decimal]],
) -> bytes:
    """An eExact `MatchSets` document matching entry lines on the debtors account.

    `lines`: ((financial year, period) of the entry, journal code, entry number, amount in
    the division's currency; invoice positive, receipt negative).

    Raises:
        LedgerError: an entry without a year and period.
    """
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<eExact xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="eExact-Schema.xsd">',
        "<MatchSets><MatchSet>",
        f"<GLAccount code={quoteattr(gl_code)} />",
        f"<Account code={quoteattr(account_code)} />",
        "<MatchLines>",
    ]
    for (year, period), journal, entry, value in lines:
        if isinstance(year, bool) or not isinstance(year, int) or not isinstance(period, int):
            msg = f"entry {entry} has no financial year and period to match it in"
            raise LedgerError(msg)
        parts.append(
            "<MatchLine"
            f" finyear={quoteattr(str(year))}"
            f" finperiod={quoteattr(str(period))}"
            f" journal={quoteattr(journal)}"
            f" entry={quoteattr(str(entry))}"
            f" amountdc={quoteattr(format(value, 'f'))} />"
        )
    parts.append("</MatchLines></MatchSet></MatchSets></eExact>")
    return "".join(parts).encode()
