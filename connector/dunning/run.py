"""The dunning run: re-read, re-plan, store, send. Never twice, never for a paid invoice.

For each administration, holding its dunning lock (two runs never dun one administration at
once):

1. Actions a previous run left in `sending` (it was killed mid-send) become `uncertain`: a
   person decides whether they went out; they are never sent again by themselves.
2. The items about to be dunned (what a plan on the store would send, and the items of every
   pending action) are read again from the ledger: a targeted read when the ledger can
   (`Capabilities.targeted_read`; the files ledger re-reads its files), otherwise a fresh sync
   of that administration. An item paid since the last sync is closed before anything is
   planned. When the ledger cannot be read, nothing is sent for that administration.
3. Pending actions whose items changed since they were planned (paid, another amount,
   disputed, paused, arranged) are cancelled; the plan makes a fresh letter for what is left.
4. The plan runs on the refreshed store and every letter is stored under its unique key
   (administration, debtor, step, cycle) BEFORE it is sent: `pending`, or `pending_approval`
   in approval mode. A key another run stored already is skipped.
5. Each pending action is taken (`pending` -> `sending`, atomically), rendered once and sent
   through each of its channels that has not delivered it yet; each delivery is recorded as it
   happens, and the action is `sent` when every channel has delivered. A `ChannelError` puts it
   back to `pending` for a later run (the channels that delivered are not repeated); a
   `ChannelUncertain`, or any unexpected failure while a channel had the letter, makes it
   `uncertain`.

Running it twice on one day sends nothing the second time: every item of a sent letter is at
its new step, and its next step is days away.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from connector.channels.base import Channel
from connector.channels.base import PaymentLinks
from connector.channels.base import Renderer
from connector.channels.email import MessageOptions
from connector.channels.letter import file_stem
from connector.channels.outbox import OutboxChannel
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.dunning import law
from connector.dunning import store as dstore
from connector.dunning.collector import outside_contact_window
from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import LegalTerm
from connector.dunning.model import Letter
from connector.dunning.model import LetterItem
from connector.dunning.model import Rendered
from connector.dunning.model import StepKind
from connector.dunning.plan import PlanResult
from connector.dunning.plan import costs_without_vat
from connector.dunning.plan import money
from connector.dunning.plan import plan
from connector.dunning.policy import POSTAL_CHANNELS
from connector.dunning.policy import DunningConfig
from connector.dunning.policy import Interest
from connector.dunning.policy import Mode
from connector.dunning.readiness import letter_problems
from connector.dunning.readiness import reach_problem
from connector.dunning.statements import term_letter_problems
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import ArrangementStatus
from connector.errors import ChannelError
from connector.errors import ChannelUncertain
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.ports import Ledger
from connector.reports import local_today
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord
from connector.sync import refresh_items
from connector.sync import sync_administration

logger = logging.getLogger(__name__)

#: Channels that need the renderer (the others get a plain summary of the letter).
RENDERED_CHANNELS = frozenset({ChannelKind.EMAIL, ChannelKind.LETTER, ChannelKind.OUTBOX})

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    id: int
    key: str
    detail: str = ""
    references: tuple[str, ...] = ()


@dataclass
class AdministrationRun:
    administration_id: int
    administration: str
    date: date
    reread: int = 0  # items read again from the ledger
    closed: int = 0  # of which the ledger now reports paid or changed
    recovered: list[ActionOutcome] = field(default_factory=list)  # sending -> uncertain
    cancelled: list[ActionOutcome] = field(default_factory=list)
    planned: int = 0
    stored: int = 0
    awaiting_approval: int = 0
    sent: list[ActionOutcome] = field(default_factory=list)
    retry: list[ActionOutcome] = field(default_factory=list)  # back to pending
    uncertain: list[ActionOutcome] = field(default_factory=list)
    blocked: list[ActionOutcome] = field(default_factory=list)  # held, with the reason
    reviewed: list[ActionOutcome] = field(default_factory=list)  # review mode: files only
    busy: str = ""  # another run holds the lock
    error: str = ""
    plan: PlanResult | None = None

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class RunReport:
    administrations: tuple[AdministrationRun, ...]

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.administrations)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dunning:
    """The run, with what it needs injected: the store, the configuration, the ledgers,
    the channels, the renderer and a clock."""

    def __init__(
        self,
        store: Store,
        config: DunningConfig,
        *,
        ledger_for: Callable[[ConnectionRecord], Ledger],
        channels: Mapping[ChannelKind, Channel],
        renderer: Renderer | None = None,
        payment_links: PaymentLinks | None = None,
        clock: Clock = utcnow,
        rates: law.RateTable | None = None,
        message_options: MessageOptions | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.ledger_for = ledger_for
        self.channels = dict(channels)
        self.renderer = renderer
        self.payment_links = payment_links
        self.clock = clock
        # The shipped rates with the rows of `[dunning] interest_rates_file`.
        self.rates = rates if rates is not None else config.rate_table()
        # The e-mail channel's From, Reply-To and domain, so a review or preview .eml is the
        # message that would be sent.
        self.message_options = message_options
        self._holder = ""
        self._lock_refreshed = datetime.min.replace(tzinfo=UTC)

    # -- planning only ------------------------------------------------------------------------

    def plan_only(
        self, admins: Sequence[AdministrationRecord], on_date: date | None = None
    ) -> PlanResult:
        """The plan on the store as it is: no ledger, no lock, nothing written."""
        now = self.clock()
        dates = {a.id: on_date or local_today(a.timezone, now) for a in admins}
        with self.store.begin() as conn:
            snapshot = dstore.load_snapshot(conn, self.config, admins)
        return plan(
            self.config.policies,
            self.config.segments,
            snapshot,
            dates,
            apply_atw=self.config.apply_atw,
            rates=self.rates,
            postal_days=self.config.postal_delivery_days,
        )

    # -- the run ------------------------------------------------------------------------------

    def run(
        self,
        admins: Sequence[AdministrationRecord],
        *,
        on_date: date | None = None,
    ) -> RunReport:
        outcomes = [self._administration(admin, on_date) for admin in admins]
        return RunReport(tuple(outcomes))

    def _administration(
        self, admin: AdministrationRecord, on_date: date | None
    ) -> AdministrationRun:
        now = self.clock()
        today = on_date or local_today(admin.timezone, now)
        outcome = AdministrationRun(admin.id, admin.name, today)
        collector = self.config.collector
        if collector is not None and collector.for_clients:
            # 13.14, Wki conduct rules: no contact at night, on Sundays or public holidays.
            why = outside_contact_window(now.astimezone(ZoneInfo(admin.timezone)))
            if why:
                outcome.error = f"collecting for clients: no letters now ({why}; Wki)"
                return outcome
        holder = _holder()
        stale_after = timedelta(minutes=self.config.lock_minutes)
        with self.store.begin(immediate=True) as conn:
            busy = dstore.acquire_lock(conn, admin.id, holder, now, stale_after)
        if busy is not None:
            outcome.busy = busy
            outcome.error = f"another dunning run ({busy}) is busy with this administration"
            return outcome
        self._holder = holder
        self._lock_refreshed = now
        try:
            self._locked(admin, today, outcome)
        finally:
            with self.store.begin() as conn:
                dstore.release_lock(conn, admin.id, holder)
        return outcome

    def _locked(self, admin: AdministrationRecord, today: date, outcome: AdministrationRun) -> None:
        now = self.clock()
        with self.store.begin() as conn:
            for action_id in dstore.recover_interrupted(conn, admin.id, now):
                action = dstore.get_action(conn, action_id)
                outcome.recovered.append(ActionOutcome(action_id, action.key, action.status_reason))
        first = self._plan([admin], today)
        try:
            changed = self._reread(admin, first, outcome)
        except ConnectorError as exc:
            outcome.error = f"could not read the ledger again before dunning: {exc}"
            return
        with self.store.begin() as conn:
            for action_id, reason in dstore.stale_actions(conn, admin.id, today):
                if dstore.cancel(conn, action_id, reason, now):
                    key = dstore.get_action(conn, action_id).key
                    outcome.cancelled.append(ActionOutcome(action_id, key, reason))
        # Plan again on what the ledger says now, unless nothing changed since the first plan.
        result = first if not changed and not outcome.cancelled else self._plan([admin], today)
        outcome.plan = result
        outcome.planned = len(result.actions)
        outcome.blocked = [ActionOutcome(0, a.key, a.hold) for a in result.actions if a.hold]
        review = self.mode_of(admin) is Mode.REVIEW
        with self.store.begin() as conn:
            pending = dstore.list_actions(
                conn,
                administration_ids=[admin.id],
                statuses=(ActionStatus.PENDING.value,),
            )
        if not review:  # review writes files only: no channel is needed
            self.check_channels(
                [a.letter.channels for a in result.actions if not a.hold]
                + [a.channels for a in pending]
            )
        now = self.clock()
        with self.store.begin() as conn:
            # Blocked and review letters never left: what is planned now replaces them.
            dstore.discard_replanned(conn, admin.id)
            stored = dstore.store_actions(conn, result.actions, now)
            for arrangement_id in result.completed_arrangements:
                dstore.set_arrangement_status(
                    conn, arrangement_id, ArrangementStatus.COMPLETED, now
                )
        outcome.stored = len(stored)
        outcome.awaiting_approval = sum(1 for a in result.actions if a.approval and a.key in stored)
        with self.store.begin() as conn:
            to_send = dstore.list_actions(
                conn,
                administration_ids=[admin.id],
                statuses=(ActionStatus.PENDING.value,),
            )
        for action in to_send:
            self._keep_lock(admin.id)
            if review:
                self._review(admin, action.id, today, outcome)
            else:
                self._send(admin, action.id, today, outcome)

    def mode_of(self, admin: AdministrationRecord) -> Mode:
        return self.config.mode_for(
            self.config.for_administration(admin.id, admin.external_id, admin.name)
        )

    def review_folder(self, admin: AdministrationRecord) -> Path:
        return Path(self.config.review_folder) / file_stem(admin.name or str(admin.id))

    def _review(
        self, admin: AdministrationRecord, action_id: int, today: date, outcome: AdministrationRun
    ) -> None:
        """Review mode: the letter is rendered as it would be sent (.eml and PDF) into the
        review folder; nothing leaves and its history says `review`."""
        now = self.clock()
        with self.store.begin() as conn:
            if not dstore.claim_for_sending(conn, action_id, now):
                return
            action = dstore.get_action(conn, action_id)
        try:
            letter, reference = self.preview(admin, action, today, self.review_folder(admin))
        except (ConnectorError, OSError) as exc:
            detail = f"review: {exc}"
            self._settle(action_id, ActionStatus.PENDING, detail)
            outcome.retry.append(ActionOutcome(action_id, action.key, detail))
            return
        problems = letter_problems(letter) if set(action.channels) & RENDERED_CHANNELS else []
        status = ActionStatus.BLOCKED if problems else ActionStatus.REVIEW
        reason = problems[0] if problems else f"written to {reference}"
        self._settle(action_id, status, reason)
        outcome.reviewed.append(ActionOutcome(action_id, action.key, reason, (reference,)))

    def preview(
        self,
        admin: AdministrationRecord,
        action: dstore.ActionRecord,
        today: date,
        folder: Path,
    ) -> tuple[Letter, str]:
        """Write the exact .eml and PDF the action would be sent as into `folder`; the letter
        and the path of the .eml (or of the summary for a call task or hand-over)."""
        with self.store.begin() as conn:
            linked = dstore.action_items(conn, action.id)
            debtor = dstore.load_debtors(conn, [admin.id], [(admin.id, action.debtor_code)]).get(
                (admin.id, action.debtor_code)
            ) or Debtor(code=action.debtor_code, name=action.debtor_code)
        letter = self.with_invoice_copies(admin, self.letter(admin, action, linked, debtor, today))
        return letter, self.write_preview(letter, folder)

    def write_preview(self, letter: Letter, folder: Path) -> str:
        if not RENDERED_CHANNELS & set(letter.channels):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{file_stem(letter.key)}.txt"
            path.write_text(summary(letter).text, encoding="utf-8")
            return str(path)
        if self.renderer is None:
            msg = "no renderer (letter templates) is configured"
            raise ConfigError(msg)
        rendered = self.renderer.render(letter, with_pdf=True)
        outbox = OutboxChannel(folder, self.message_options, clock=self.clock)
        return outbox.send(letter, rendered).reference

    def _keep_lock(self, administration_id: int) -> None:
        """Renew the lock about once a minute while sending, so that a long run is never
        taken for a dead one."""
        now = self.clock()
        if now - self._lock_refreshed < timedelta(minutes=1):
            return
        with self.store.begin() as conn:
            dstore.renew_lock(conn, administration_id, self._holder, now)
        self._lock_refreshed = now

    def _plan(self, admins: Sequence[AdministrationRecord], today: date) -> PlanResult:
        dates = {a.id: today for a in admins}
        with self.store.begin() as conn:
            snapshot = dstore.load_snapshot(conn, self.config, admins)
        return plan(
            self.config.policies,
            self.config.segments,
            snapshot,
            dates,
            apply_atw=self.config.apply_atw,
            rates=self.rates,
            postal_days=self.config.postal_delivery_days,
        )

    def check_channels(self, wanted: Sequence[Sequence[ChannelKind]]) -> None:
        """Every channel the letters need is configured, and so is the renderer."""
        needed = {kind for kinds in wanted for kind in kinds}
        missing = sorted(kind.value for kind in needed if kind not in self.channels)
        if missing:
            msg = (
                f"dunning needs the {', '.join(missing)} channel"
                f"{'s' if len(missing) > 1 else ''}, which {'are' if len(missing) > 1 else 'is'}"
                " not configured; configure it or change the policy's channels"
            )
            raise ConfigError(msg)
        if self.renderer is None and needed & RENDERED_CHANNELS:
            msg = "dunning needs the letter templates (a renderer) for e-mail, letter or outbox"
            raise ConfigError(msg)

    # -- step 2: read the ledger again --------------------------------------------------------

    def _reread(
        self, admin: AdministrationRecord, planned: PlanResult, outcome: AdministrationRun
    ) -> int:
        """Read the items about to be dunned again from the ledger; how many changed."""
        item_ids: set[int] = set()
        for action in planned.actions:
            item_ids.update(item.item_id for item in action.letter.items)
        with self.store.begin() as conn:
            item_ids.update(dstore.waiting_item_ids(conn, admin.id))
            if not item_ids:
                return 0
            connection = records.find_connection(conn, str(admin.connection_id))
            wanted = dstore.external_ids(conn, sorted(item_ids))
        ledger = self.ledger_for(connection)
        outcome.reread = len(wanted)
        if not ledger.capabilities.targeted_read:
            summary = sync_administration(self.store, ledger, admin, clock=self.clock)
            if not summary.ok:
                raise ConnectorError(summary.error)
            outcome.closed = summary.closed
            return summary.new + summary.changed + summary.closed
        fresh = ledger.read_items(admin.domain(), sorted(wanted))
        outcome.closed = refresh_items(self.store, admin, list(wanted), fresh, self.clock())
        return outcome.closed

    def with_invoice_copies(self, admin: AdministrationRecord, letter: Letter) -> Letter:
        """The invoices' own PDFs for a step that sends copies, when the ledger has them.

        A copy that cannot be fetched does not hold the letter back: it goes without it.
        """
        if not letter.attach_invoices:
            return letter
        with self.store.begin() as conn:
            connection = records.find_connection(conn, str(admin.connection_id))
            by_id = {
                row_id: ext
                for ext, row_id in dstore.external_ids(
                    conn, [item.item_id for item in letter.items]
                ).items()
            }
        ledger = self.ledger_for(connection)
        fetch = getattr(ledger, "invoice_pdf", None)
        if not ledger.capabilities.invoice_pdf or not callable(fetch):
            return letter
        copies: list[tuple[str, bytes]] = []
        for item in letter.items:
            if item.open_amount <= 0 or item.item_id not in by_id:
                continue  # copies of invoices, not of credit notes
            wanted = OpenItem(
                external_id=by_id[item.item_id],
                invoice_number=item.invoice_number,
                debtor_code=letter.debtor.code,
                invoice_date=item.invoice_date,
                due_date=item.due_date,
                open_amount=Money(item.open_amount, letter.currency),
            )
            try:
                pdf = fetch(admin.domain(), wanted)
            except ConnectorError as exc:
                logger.warning("no copy of invoice %s: %s", item.invoice_number, exc)
                continue
            if pdf:
                copies.append((f"{item.invoice_number}.pdf", bytes(pdf)))
        return replace(letter, invoice_pdfs=tuple(copies))

    # -- step 5: send -------------------------------------------------------------------------

    def _send(
        self, admin: AdministrationRecord, action_id: int, today: date, outcome: AdministrationRun
    ) -> None:
        now = self.clock()
        with self.store.begin() as conn:
            if not dstore.claim_for_sending(conn, action_id, now):
                return  # another run took it, or it changed since it was listed
            action = dstore.get_action(conn, action_id)
            linked = dstore.action_items(conn, action_id)
            done = dstore.deliveries(conn, action_id)
            debtor = dstore.load_debtors(conn, [admin.id], [(admin.id, action.debtor_code)]).get(
                (admin.id, action.debtor_code)
            ) or Debtor(code=action.debtor_code, name=action.debtor_code)
        try:
            letter = self.with_invoice_copies(
                admin, self.letter(admin, action, linked, debtor, today)
            )
        except Exception as exc:  # nothing went out yet: leave it for the next run
            logger.exception("building the letter of dunning action %s failed", action_id)
            detail = f"the letter could not be made: {type(exc).__name__}: {exc}"
            self._settle(action_id, ActionStatus.PENDING, detail)
            outcome.retry.append(ActionOutcome(action_id, action.key, detail))
            return
        problems = letter_problems(letter) if set(action.channels) & RENDERED_CHANNELS else []
        for kind in action.channels:
            unreachable = reach_problem(kind, debtor)
            if unreachable is not None and kind not in done:
                problems.append(f"{unreachable} ({kind.value})")
        if problems and not done:
            # Changed since it was planned (the sender's details, the debtor's address): held
            # with the reason, never sent; the next run plans it again.
            self._settle(action_id, ActionStatus.BLOCKED, problems[0])
            outcome.blocked.append(ActionOutcome(action_id, action.key, problems[0]))
            return
        rendered: Rendered | None = None
        references = [d.reference for d in done.values()]
        # One channel may serve several kinds (the demo maps e-mail and letter to its outbox):
        # it sends the letter once, and each kind is recorded under its own name (13.13).
        sent_by: dict[int, Delivery] = {}
        for kind in action.channels:
            if kind in done:
                continue
            channel = self.channels.get(kind)
            try:
                if channel is None:
                    msg = f"the {kind.value} channel is not configured"
                    raise ConfigError(msg)
                if id(channel) in sent_by:
                    delivery = sent_by[id(channel)]
                else:
                    if rendered is None:
                        rendered = self.checked(self.render(letter), letter)
                    delivery = sent_by[id(channel)] = channel.send(letter, rendered)
                if delivery.channel is not kind:
                    delivery = replace(delivery, channel=kind)
            except ChannelUncertain as exc:
                self._settle(action_id, ActionStatus.UNCERTAIN, f"{kind.value}: {exc}")
                outcome.uncertain.append(ActionOutcome(action_id, action.key, str(exc)))
                return
            except (ChannelError, ConfigError) as exc:
                # Nothing went out on this channel: the next run tries again.
                self._settle(action_id, ActionStatus.PENDING, f"{kind.value}: {exc}")
                outcome.retry.append(ActionOutcome(action_id, action.key, str(exc)))
                return
            except Exception as exc:  # a fault while the channel had the letter: unknown
                logger.exception("sending dunning action %s over %s failed", action_id, kind)
                detail = f"{kind.value}: unexpected {type(exc).__name__}: {exc}"
                self._settle(action_id, ActionStatus.UNCERTAIN, detail)
                outcome.uncertain.append(ActionOutcome(action_id, action.key, detail))
                return
            with self.store.begin() as conn:
                dstore.record_delivery(conn, action_id, delivery, self.clock())
            if delivery.reference not in references:
                references.append(delivery.reference)
        sent_at = self.clock()
        delivered = (
            law.delivery_date(today, postal_days=self.config.postal_delivery_days)
            if POSTAL_CHANNELS & set(action.channels)
            else today
        )
        legal = letter.legal_term
        with self.store.begin() as conn:
            dstore.set_status(
                conn,
                action_id,
                ActionStatus.SENT,
                sent_at,
                reason="",
                expect=(ActionStatus.SENDING.value,),
                sent_at=sent_at,
                sent_on=today,
                letter_date=today,
                delivered_on=delivered,
                term_end=legal.term_end if legal else action.term_end,
                costs_from=(
                    legal.term_end + timedelta(days=1) if legal is not None else action.costs_from
                ),
                pay_by=letter.pay_by,
            )
            if action.arrangement_id is not None:
                dstore.set_arrangement_status(
                    conn,
                    action.arrangement_id,
                    ArrangementStatus.BROKEN,
                    sent_at,
                    broken_on=today,
                )
        outcome.sent.append(ActionOutcome(action_id, action.key, "", tuple(references)))

    def _settle(self, action_id: int, status: ActionStatus, reason: str) -> None:
        with self.store.begin() as conn:
            dstore.set_status(
                conn,
                action_id,
                status,
                self.clock(),
                reason=reason,
                expect=(ActionStatus.SENDING.value,),
            )

    @staticmethod
    def checked(rendered: Rendered, letter: Letter) -> Rendered:
        """A 14-day letter goes out only with every required statement in it (13.5)."""
        problems = term_letter_problems(letter, rendered)
        if problems:
            msg = "not sent, no term stored: " + "; ".join(problems)
            raise ConfigError(msg)
        return rendered

    def render(self, letter: Letter) -> Rendered:
        if RENDERED_CHANNELS & set(letter.channels):
            if self.renderer is None:
                msg = "no renderer (letter templates) is configured"
                raise ConfigError(msg)
            with_pdf = bool(POSTAL_CHANNELS & set(letter.channels))
            return self.renderer.render(letter, with_pdf=with_pdf)
        return summary(letter)

    def letter(
        self,
        admin: AdministrationRecord,
        action: dstore.ActionRecord,
        linked: Sequence[dstore.LinkedItem],
        debtor: Debtor,
        today: date,
    ) -> Letter:
        """The letter of a stored action, dated the day it is sent."""
        settings = self.config.for_administration(admin.id, admin.external_id, admin.name)
        sender = self.config.sender_for(settings, admin.name, admin.country)
        items = tuple(
            LetterItem(
                item_id=i.item_id,
                invoice_number=i.invoice_number,
                invoice_date=i.invoice_date,
                due_date=i.due_date,
                days_overdue=(today - i.due_date).days,
                open_amount=money(i.open_amount, action.currency),
                interest=money(i.interest, action.currency),
            )
            for i in sorted(linked, key=lambda i: (i.open_amount < 0, i.due_date, i.invoice_number))
        )
        pay_by = today + (action.pay_by - action.planned_on) if action.pay_by is not None else None
        legal: LegalTerm | None = None
        if action.term_end is not None and action.costs_if_unpaid is not None:
            # A consumer 14-day letter: its term runs from its real delivery.
            postal = POSTAL_CHANNELS & set(action.channels)
            delivered = (
                law.delivery_date(today, postal_days=self.config.postal_delivery_days)
                if postal
                else today
            )
            term = law.fourteen_day_term_from_delivery(delivered, apply_atw=self.config.apply_atw)
            policy = self.config.policies.get(action.policy)
            step = None
            if policy is not None and 0 <= action.step_index < len(policy.steps):
                step = policy.steps[action.step_index]
            wording = law.fourteen_day_letter_wording(
                law.collection_costs(
                    action.principal,
                    creditor_deducts_vat=costs_without_vat(
                        sender, policy is None or policy.hands_over
                    ),
                ),
                language="en" if action.language == "en" else "nl",
                mention_statutory_interest=step is not None and step.interest is Interest.STATUTORY,
                announce_handover=policy is None or policy.hands_over,
                interest_owed=action.interest,
            )
            legal = LegalTerm(
                delivered_on=delivered,
                term_end=term.term_end,
                costs_if_unpaid=action.costs_if_unpaid,
                statements=tuple(s.text for s in wording.statements),
            )
            pay_by = term.term_end
        letter = Letter(
            key=action.key,
            administration_id=admin.id,
            sender=sender,
            debtor=debtor,
            step_name=action.step_name,
            step_kind=StepKind(action.step_kind),
            template=action.template,
            channels=action.channels,
            language=action.language,
            letter_date=today,
            currency=action.currency,
            items=items,
            principal=money(action.principal, action.currency),
            collection_costs=money(action.collection_costs, action.currency),
            collection_costs_vat=money(action.collection_costs_vat, action.currency),
            interest=money(action.interest, action.currency),
            total=money(action.total, action.currency),
            payment_reference=action.payment_reference,
            pay_by=pay_by,
            legal_term=legal,
            attach_invoices=action.attach_invoices,
        )
        return self.with_payment_link(letter)

    def with_payment_link(self, letter: Letter) -> Letter:
        if self.payment_links is not None:
            try:
                letter = replace(letter, payment_link=self.payment_links.link_for(letter))
            except ConnectorError as exc:
                logger.warning("no payment link for %s: %s", letter.key, exc)
        return letter


def summary(letter: Letter) -> Rendered:
    """A plain summary of a letter, for the channels that need no template (call tasks and
    the hand-over dossier)."""
    lines = [
        f"{letter.step_name} for {letter.debtor.name} ({letter.debtor.code}), "
        f"{letter.letter_date.isoformat()}",
    ]
    for item in letter.items:
        lines.append(
            f"  {item.invoice_number}  due {item.due_date.isoformat()}  "
            f"{item.open_amount:.2f} {letter.currency}"
        )
    lines.append(f"  principal {letter.principal:.2f}")
    if letter.collection_costs or letter.collection_costs_vat:
        lines.append(
            f"  collection costs {letter.collection_costs + letter.collection_costs_vat:.2f}"
        )
    if letter.interest:
        lines.append(f"  interest {letter.interest:.2f}")
    lines.append(f"  total {letter.total:.2f} {letter.currency}")
    return Rendered(subject=lines[0], text="\n".join(lines) + "\n", html="")
