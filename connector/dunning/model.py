"""What dunning produces: letters, one per debtor per step, and what channels need to send them.

The engine (plan and run) builds `Letter`s; the channels (e-mail, PDF letter, call task,
collection hand-over, files outbox) render and deliver them. Neither side knows the other's
internals: this module is the contract between them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from decimal import Decimal

from connector.domain import Debtor


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    LETTER = "letter"  # a PDF letter to print and post (or send by a print service)
    CALL = "call"  # a call task for a person, kept in the store
    COLLECTION = "collection"  # hand-over dossier for a collection agency
    OUTBOX = "outbox"  # .eml and .pdf files in a folder (demo, review, own mail system)


class StepKind(enum.StrEnum):
    REMINDER = "reminder"
    FINAL_NOTICE = "final_notice"  # for consumers: the legal 14-day letter
    COLLECTION = "collection"  # hand-over


@dataclass(frozen=True, slots=True)
class Sender:
    """The administration as the letter's sender: letterhead and payment details."""

    name: str
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NL"
    email: str = ""  # Reply-To of e-mails
    phone: str = ""
    iban: str = ""
    bic: str = ""
    kvk_number: str = ""
    vat_number: str = ""
    website: str = ""
    logo_path: str = ""  # a PNG or SVG file on disk; empty for none
    signature: str = ""  # the closing lines, e.g. "Met vriendelijke groet,\nAfdeling debiteuren"
    creditor_deducts_vat: bool = True  # False: VAT is added to collection costs (BIK art. 2 lid 3)
    # 13.9: VAT on the costs only at a hand-over to a collection service that charges it.
    collection_agency: str = ""  # 13.7: named in the hand-over notice (who receives the data)
    collection_agency_charges_vat: bool = False
    # 13.14: set from [dunning.collector] (not a sender key): who collects, and its Wki number.
    collector_name: str = ""
    collector_wki_number: str = ""


@dataclass(frozen=True, slots=True)
class LetterItem:
    """One invoice (or credit note, negative) in a letter."""

    item_id: int  # the store's open_items.id
    invoice_number: str
    invoice_date: date | None
    due_date: date
    days_overdue: int
    open_amount: Decimal
    interest: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class LegalTerm:
    """The consumer 14-day letter's term (art. 6:96 lid 6 BW), from connector.dunning.law."""

    delivered_on: date
    term_end: date  # last day to pay without collection costs
    costs_if_unpaid: Decimal  # BIK costs (incl. VAT where added) charged after term_end
    statements: tuple[str, ...]  # the wording the law requires, in the letter's language


@dataclass(frozen=True, slots=True)
class Letter:
    """One message to one debtor for one step, covering all its items at that step.

    Amounts are Decimal in `currency`. `principal` is the sum of the items' open amounts
    (credit notes and unapplied payments netted); `total` = principal + collection_costs +
    collection_costs_vat + interest.
    """

    key: str  # the action's idempotency key: administration/debtor/step/cycle
    administration_id: int
    sender: Sender
    debtor: Debtor
    step_name: str
    step_kind: StepKind
    template: str  # template name, e.g. "reminder_1"; the renderer picks nl/en by language
    channels: tuple[ChannelKind, ...]
    language: str  # "nl" or "en"
    letter_date: date
    currency: str
    items: tuple[LetterItem, ...]
    principal: Decimal
    collection_costs: Decimal = Decimal(0)
    collection_costs_vat: Decimal = Decimal(0)
    interest: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    payment_reference: str = ""  # betalingskenmerk (16 digits, check digit) for this letter
    pay_by: date | None = None  # the date the letter asks payment by
    payment_link: str = ""  # filled when a payment provider is configured
    legal_term: LegalTerm | None = None  # set on the consumer 14-day letter only
    attach_invoices: bool = False  # the step asks for a copy of the invoices
    invoice_pdfs: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A letter rendered once, for every channel that sends it."""

    subject: str
    text: str  # plain-text body
    html: str  # HTML body (e-mail) and the source of the PDF letter
    pdf: bytes | None = None  # the PDF letter, when a channel needs it
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, mime type, bytes)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a channel reports after sending."""

    channel: ChannelKind
    reference: str  # Message-ID, file path, task id, dossier path
    detail: str = ""
