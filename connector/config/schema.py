"""The schema of `connector.toml`: every table and key the core reads, as pydantic models.

This is the first pass over the whole file, before any command does anything: it says which
keys exist, their types and ranges. The semantic parsers (`connector.dunning.policy`,
`connector.scheduler`, `connector.cli.channels`, the adapters) still build the values; what
needs more than one table (a policy named elsewhere, a template that must exist) is checked
in `connector.config.validate`. `[ledgers.NAME]`, `[providers.NAME]` and the provider part of
`[payment_links]` are checked by the plug-in's own schema (`connector.config.plugins`).
"""

from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import Field
from stdnum import iban as iban_number

from connector.config.base import Amount
from connector.config.base import NonNegativeInt
from connector.config.base import Number
from connector.config.base import PositiveInt
from connector.config.base import PositiveNumber
from connector.config.base import Section
from connector.config.base import Share
from connector.config.base import Text
from connector.config.base import TimeZone
from connector.config.base import one_of

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
CHANNELS = ("email", "letter", "call", "collection", "outbox")  # connector.dunning.model
MODES = ("review", "approval", "live")


def _log_level(value: str) -> str:
    one_of(*LOG_LEVELS)(value.upper())
    return value


def _time(value: str) -> str:
    parts = value.split(":")
    if (
        len(parts) != 2
        or not all(len(p) == 2 and p.isdigit() for p in parts)
        or int(parts[0]) > 23
        or int(parts[1]) > 59
    ):
        msg = f"expected a time like 09:00, got {value!r}"
        raise ValueError(msg)
    return value


def _iban(value: str) -> str:
    if value and not iban_number.is_valid(value):
        msg = f"expected a valid IBAN such as NL91ABNA0417164300, got {value!r}"
        raise ValueError(msg)
    return value


Channel = Annotated[str, AfterValidator(one_of(*CHANNELS))]
Mode = Annotated[str, AfterValidator(one_of(*MODES))]


class SchedulerSection(Section):
    sync_interval_minutes: PositiveInt = 60
    dunning_time: Annotated[str, AfterValidator(_time)] = "09:00"
    misfire_grace_seconds: PositiveInt = 3600
    timezone: TimeZone | None = None


class SegmentSection(Section):
    name: str = ""
    policy: Text
    kind: Annotated[str, AfterValidator(one_of("business", "consumer"))] | None = None
    tags_any: list[Text] = Field(default_factory=list)
    tags_all: list[Text] = Field(default_factory=list)
    tags_none: list[Text] = Field(default_factory=list)
    outstanding_min: Number | None = None
    outstanding_max: Number | None = None
    avg_days_late_min: Number | None = None
    avg_days_late_max: Number | None = None
    administrations: list[str | int] = Field(default_factory=list)


class CollectorSection(Section):
    """`[dunning.collector]`: who collects, when collecting for clients (Wki, issue 13.14)."""

    name: Text | None = None
    wki_number: str | None = None
    for_clients: bool = True


class DunningSection(Section):
    default_policy: Text = "default"
    approval: bool = False
    mode: Mode | None = None  # review / approval / live; absent: approval decides
    apply_atw: bool = True
    arrangement_grace_days: NonNegativeInt = 5
    lock_minutes: PositiveInt = 30
    collection_folder: Text = "collection"
    review_folder: Text = "review"
    templates_dir: str | None = None
    interest_rates_file: Text | None = None
    postal_delivery_days: PositiveInt | None = None  # presumed delivery days of a posted letter
    collector: CollectorSection | None = None
    segments: list[SegmentSection] = Field(default_factory=list)


class StepSection(Section):
    name: Text
    kind: Annotated[str, AfterValidator(one_of("reminder", "final_notice", "collection"))] = (
        "reminder"
    )
    days_after_due: PositiveInt | None = None
    days_after_previous: PositiveInt | None = None
    after_previous_term: bool = False
    channels: Annotated[list[Channel], Field(min_length=1)]
    fallback: Channel | None = None
    template: Text | None = None  # default: the step's name
    consumer_template: str = ""
    collection_costs: Annotated[str, AfterValidator(one_of("none", "bik"))] = "none"
    interest: Annotated[str, AfterValidator(one_of("none", "statutory"))] = "none"
    attach_invoices: bool = False
    minimum_amount: Amount = "0"
    pay_within_days: PositiveInt = 14


class PolicySection(Section):
    description: str = ""
    min_days_between_letters: NonNegativeInt = 7
    day_count: Annotated[str, AfterValidator(one_of("act/365", "act/act"))] = "act/365"
    consumer_interest_from: Annotated[str, AfterValidator(one_of("after_term", "due_date"))] = (
        "after_term"
    )
    interest_when_rate_unknown: Annotated[str, AfterValidator(one_of("block", "omit"))] = "block"
    backlog_start_step: Text | None = None
    steps: Annotated[list[StepSection], Field(min_length=1)]


class SenderSection(Section):
    """The fields of `connector.dunning.model.Sender`."""

    name: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None
    iban: Annotated[str, AfterValidator(_iban)] | None = None
    bic: str | None = None
    kvk_number: str | None = None
    vat_number: str | None = None
    website: str | None = None
    logo_path: str | None = None
    signature: str | None = None
    creditor_deducts_vat: bool | None = None
    collection_agency: str | None = None  # named in the hand-over notice
    collection_agency_charges_vat: bool | None = None  # VAT on costs only then (BIK art. 2 lid 3)


class AdministrationSection(Section):
    approval: bool | None = None
    mode: Mode | None = None
    policy: Text | None = None
    templates_dir: str | None = None
    sender: SenderSection | None = None


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        msg = f"expected a port number 1-65535 (0: the security's default), got {value!r}"
        raise ValueError(msg)
    return value


class EmailSection(Section):
    host: Text
    from_address: Text
    port: Annotated[int, AfterValidator(_port)] | None = None
    security: Annotated[str, AfterValidator(one_of("starttls", "ssl", "plain"))] = "starttls"
    username: str = ""
    from_name: str = ""
    timeout: PositiveNumber = 30.0
    ca_file: str = ""
    attach_letter_pdf: bool = False
    bcc: list[str] = Field(default_factory=list)


class FolderSection(Section):
    folder: Text | None = None


class SyncSection(Section):
    max_close_share: Share | None = None  # a sync closing more of the open items stops


class TasksSection(Section):
    """`[tasks]`: where units of work run (connector.tasks)."""

    engine: Annotated[str, AfterValidator(one_of("in-process", "procrastinate"))] | None = None
    concurrency: PositiveInt | None = None


class ChannelsSection(Section):
    email: EmailSection | None = None
    letter: FolderSection | None = None
    outbox: FolderSection | None = None


class ConfigFile(Section):
    """The whole file. Plug-in tables are checked against the plug-in's own schema."""

    database_url: Text | None = None
    timezone: TimeZone | None = None
    log_level: Annotated[str, AfterValidator(_log_level)] | None = None
    sync_batch_size: PositiveInt | None = None
    scheduler: SchedulerSection | None = None
    sync: SyncSection | None = None
    tasks: TasksSection | None = None
    dunning: DunningSection | None = None
    policies: dict[str, PolicySection] = Field(default_factory=dict)
    administrations: dict[str, AdministrationSection] = Field(default_factory=dict)
    channels: ChannelsSection | None = None
    ledgers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    payment_links: dict[str, Any] | None = None
