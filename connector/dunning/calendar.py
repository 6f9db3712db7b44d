"""Dates for Dutch collection law: public holidays, postal delivery and the 14-day term.

All functions are pure: the caller passes the dates, nothing reads a clock. A `datetime` is
refused wherever a `date` is expected, so that no timezone or daylight-saving conversion can
move a day (a `datetime` is a subclass of `date` and would otherwise slip through).

Sources are the research notes in shared/research/law-and-psp.md (cited below by section,
e.g. "§1.2").

Which days are holidays
-----------------------
The research (§1.2) says only "official public holidays" for the delivery presumption and
does not list them. We use the statutory list of the Algemene termijnenwet (Atw), art. 3:
Nieuwjaarsdag, Goede Vrijdag (lid 2), tweede Paasdag, Koningsdag (on the day it is celebrated:
26 April when the 27th is a Sunday), 5 mei (every year, not only in lustrum years), Hemelvaarts-
dag, tweede Pinksterdag and both Christmas days. This list is the widest official one, so it
can only make the presumed delivery later, never earlier: costs are then charged a day late at
worst, never too early, which is the reading a court will always accept. The `holidays`
library's Netherlands calendar provides these days: its PUBLIC category (which follows the Atw
but keeps 5 May to lustrum years) together with its OPTIONAL category (5 May in every year).
Days that the Crown equates with holidays ad hoc (Atw art. 3 lid 3, e.g. the Friday after
Ascension Day in some years) are not in the library; pass them as `extra_holidays`.
"""

from __future__ import annotations

import functools
from collections.abc import Set
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta

import holidays

_SATURDAY = 5
_SUNDAY = 6
_MONDAY = 0

#: The payment term of art. 6:96 lid 6 BW, in days, counted from the day after delivery (§1.2).
TERM_DAYS = 14

_NO_EXTRA: frozenset[date] = frozenset()


def require_date(value: object, name: str) -> date:
    """`value` if it is a plain `date`; a TypeError for a `datetime` or anything else."""
    if isinstance(value, datetime) or not isinstance(value, date):
        msg = f"{name} must be a datetime.date (not a datetime), got {type(value).__name__}"
        raise TypeError(msg)
    return value


@functools.cache
def _atw_holidays(year: int) -> frozenset[date]:
    """The algemeen erkende feestdagen (Atw art. 3) of one year that are not Sundays."""
    calendar = holidays.country_holidays(
        "NL", years=year, categories=(holidays.PUBLIC, holidays.OPTIONAL)
    )
    # Easter Sunday and Whit Sunday are in the library's list but not in the Atw: they are
    # Sundays, which count as rest days anyway, so they are left out here.
    return frozenset(day for day in calendar if day.weekday() != _SUNDAY)


def is_public_holiday(day: date, *, extra_holidays: Set[date] = _NO_EXTRA) -> bool:
    """True on an algemeen erkende feestdag (Atw art. 3, Goede Vrijdag included), or on a day
    in `extra_holidays` (days equated with them under art. 3 lid 3)."""
    require_date(day, "day")
    return day in _atw_holidays(day.year) or day in extra_holidays


def public_holidays(year: int) -> frozenset[date]:
    """All algemeen erkende feestdagen of `year` that are not Sundays (see the module doc)."""
    return _atw_holidays(year)


def is_delivery_day(day: date, *, extra_holidays: Set[date] = _NO_EXTRA) -> bool:
    """True if a posted letter can be presumed delivered on `day` (§1.2): not a Sunday, not a
    Monday and not a public holiday. Saturdays count."""
    require_date(day, "day")
    if day.weekday() in (_SUNDAY, _MONDAY):
        return False
    return not is_public_holiday(day, extra_holidays=extra_holidays)


def is_atw_rest_day(day: date, *, extra_holidays: Set[date] = _NO_EXTRA) -> bool:
    """True on a Saturday, a Sunday or a public holiday: a day on which a term may not end
    under Atw art. 1."""
    require_date(day, "day")
    if day.weekday() in (_SATURDAY, _SUNDAY):
        return True
    return is_public_holiday(day, extra_holidays=extra_holidays)


#: The Postbesluit's delivery norm (95 % of letters) changes: within 2 days from 1 July 2026,
#: within 3 days from 1 July 2027 (rijksoverheid.nl, 19 December 2025, "Kabinet besluit tot
#: aanpassing bezorgtijd post per juli 2026 en juli 2027"); before, the next delivery day.
_POSTAL_NORMS: tuple[tuple[date, int], ...] = ((date(2027, 7, 1), 3), (date(2026, 7, 1), 2))


def default_postal_days(sent_on: date) -> int:
    """Delivery days presumed for a letter posted on `sent_on` (13.3): the norm in force plus
    one day for the 5 % the norm allows to be late, as the 2016 presumption (the second day)
    did for the one-day norm. A later presumed delivery never over-claims: the term ends later."""
    for start, days in _POSTAL_NORMS:
        if sent_on >= start:
            return days + 1
    return 2


def delivery_date(
    sent_on: date, *, extra_holidays: Set[date] = _NO_EXTRA, postal_days: int | None = None
) -> date:
    """The day a letter posted on `sent_on` is presumed delivered (§1.2, T.4).

    The `postal_days`-th following day (default `default_postal_days`) that is not a Sunday, a
    Monday or a public holiday: Sundays, Mondays and holidays count neither as an intervening
    day nor as the day of delivery (the post delivers Tuesday to Saturday).
    """
    require_date(sent_on, "sent_on")
    wanted = default_postal_days(sent_on) if postal_days is None else postal_days
    day = sent_on
    counted = 0
    while counted < wanted:
        day += timedelta(days=1)
        if is_delivery_day(day, extra_holidays=extra_holidays):
            counted += 1
    return day


def extend_per_atw(last_day: date, *, extra_holidays: Set[date] = _NO_EXTRA) -> date:
    """Algemene termijnenwet art. 1 lid 1: a term that ends on a Saturday, Sunday or public
    holiday runs on to and including the next day that is none of these."""
    require_date(last_day, "last_day")
    day = last_day
    while is_atw_rest_day(day, extra_holidays=extra_holidays):
        day += timedelta(days=1)
    return day


@dataclass(frozen=True, slots=True)
class FourteenDayTerm:
    """The dates of one consumer 14-day letter (art. 6:96 lid 6 BW, §1.2).

    `fourteenth_day` is delivery + 14, the last day of the term as the research computes it;
    `term_end` is the day the term really ends, after the Atw extension (the same day when the
    extension is switched off or not needed). Costs may be charged from `costs_from`, the day
    after `term_end`; that is also the earliest day of handover to a collection agency.
    """

    sent_on: date | None  # None when the caller gave the delivery date itself (e-mail, proof)
    delivered_on: date
    term_start: date
    fourteenth_day: date
    term_end: date
    costs_from: date


def fourteen_day_term_from_delivery(
    delivered_on: date,
    *,
    apply_atw: bool = True,
    extra_holidays: Set[date] = _NO_EXTRA,
    sent_on: date | None = None,
) -> FourteenDayTerm:
    """The term for a letter delivered on `delivered_on`: use this when delivery is known
    (registered mail, or an e-mail that is provably received, §1.2 [U])."""
    require_date(delivered_on, "delivered_on")
    if sent_on is not None:
        require_date(sent_on, "sent_on")
    term_start = delivered_on + timedelta(days=1)
    fourteenth_day = delivered_on + timedelta(days=TERM_DAYS)
    # §1.2 and open point 4 mark as unconfirmed whether the Algemene termijnenwet extends the
    # 14-day term. Art. 1 Atw covers "een in een wet gestelde termijn" and this term is set by
    # art. 6:96 lid 6 BW, so a court may well apply it; the research's own advice is that a
    # conservative engine pushes the costs date past such a day. We do so by default. The
    # research's T.4 algorithm (costs from delivery + 15 without extension) is apply_atw=False.
    term_end = (
        extend_per_atw(fourteenth_day, extra_holidays=extra_holidays)
        if apply_atw
        else fourteenth_day
    )
    return FourteenDayTerm(
        sent_on=sent_on,
        delivered_on=delivered_on,
        term_start=term_start,
        fourteenth_day=fourteenth_day,
        term_end=term_end,
        costs_from=term_end + timedelta(days=1),
    )


def fourteen_day_term(
    sent_on: date, *, apply_atw: bool = True, extra_holidays: Set[date] = _NO_EXTRA
) -> FourteenDayTerm:
    """All dates of a consumer 14-day letter posted on `sent_on` (§1.2 algorithm, T.4)."""
    delivered_on = delivery_date(sent_on, extra_holidays=extra_holidays)
    return fourteen_day_term_from_delivery(
        delivered_on, apply_atw=apply_atw, extra_holidays=extra_holidays, sent_on=sent_on
    )


def term_end(
    sent_on: date, *, apply_atw: bool = True, extra_holidays: Set[date] = _NO_EXTRA
) -> date:
    """The last day of the 14-day term of a letter posted on `sent_on`."""
    return fourteen_day_term(sent_on, apply_atw=apply_atw, extra_holidays=extra_holidays).term_end


def costs_may_be_charged_on(
    sent_on: date, *, apply_atw: bool = True, extra_holidays: Set[date] = _NO_EXTRA
) -> date:
    """The first day on which collection costs may be charged (and the claim handed over)
    after a consumer 14-day letter posted on `sent_on`."""
    return fourteen_day_term(sent_on, apply_atw=apply_atw, extra_holidays=extra_holidays).costs_from
