"""Generate the demo data set shipped in connector/demo_data/.

Three Dutch SME administrations (a bakery selling wholesale to horeca, an installer selling
mostly to households, a design and photo studio with a mixed clientele), each with debtors and
open items in the CSV format of the files ledger. Everything is drawn from a fixed seed, so a
run always writes the same bytes: no network, no Faker.

Dates are real ISO dates relative to ANCHOR, which is written to demo_data/anchor.txt;
`connector.demo.materialize` shifts them so that the data set is relative to any other day.
The due dates are spread so that every dunning stage (not yet due, 1-2 days late, 3-17, 18-33,
34-47, 48+ and more than 90 days) is well represented.

Run: python scripts/make_demo_data.py
"""

from __future__ import annotations

import csv
import random
import shutil
import unicodedata
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal
from pathlib import Path

from stdnum import iban as stdnum_iban
from stdnum.be import vat as be_vat
from stdnum.de import vat as de_vat
from stdnum.iso7064 import mod_11_10
from stdnum.iso7064 import mod_97_10
from stdnum.nl import bsn
from stdnum.nl import btw as nl_btw

ANCHOR = date(2026, 1, 15)
SEED = 20260115
OUT = Path(__file__).resolve().parent.parent / "connector" / "demo_data"

DEBTOR_COLUMNS = (
    "debtor_code",
    "name",
    "kind",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "iban",
    "vat_number",
    "kvk_number",
    "language",
    "payment_term_days",
    "tags",
)
ITEM_COLUMNS = (
    "invoice_number",
    "debtor_code",
    "invoice_date",
    "due_date",
    "amount",
    "open_amount",
    "currency",
    "description",
)

CENT = Decimal("0.01")

# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    postal_lo: int
    postal_hi: int
    area_code: str  # Dutch trunk prefix ("030"); for abroad the international prefix
    country: str = "NL"


UTRECHT_AREA = [
    City("Houten", 3991, 3997, "030"),
    City("Utrecht", 3511, 3585, "030"),
    City("Nieuwegein", 3430, 3439, "030"),
    City("Zeist", 3701, 3709, "030"),
    City("Bunnik", 3981, 3984, "030"),
    City("De Bilt", 3731, 3739, "030"),
    City("IJsselstein", 3401, 3402, "030"),
    City("Amersfoort", 3811, 3829, "033"),
    City("Culemborg", 4101, 4106, "0345"),
    City("Wijk bij Duurstede", 3961, 3962, "0343"),
]
UTRECHT_WEIGHTS = [22, 30, 12, 10, 6, 6, 4, 5, 3, 2]

SALLAND = [
    City("Deventer", 7411, 7429, "0570"),
    City("Apeldoorn", 7311, 7339, "055"),
    City("Zutphen", 7201, 7207, "0575"),
    City("Twello", 7391, 7392, "0571"),
    City("Raalte", 8101, 8103, "0572"),
    City("Holten", 7451, 7452, "0548"),
    City("Olst", 8121, 8122, "0570"),
    City("Wijhe", 8131, 8131, "0570"),
    City("Bathmen", 7437, 7437, "0570"),
    City("Diepenveen", 7431, 7431, "0570"),
]
SALLAND_WEIGHTS = [45, 12, 8, 6, 5, 4, 5, 3, 5, 7]

GRONINGEN_AREA = [
    City("Groningen", 9711, 9747, "050"),
    City("Haren", 9751, 9752, "050"),
    City("Assen", 9401, 9409, "0592"),
    City("Leeuwarden", 8911, 8939, "058"),
    City("Zuidhorn", 9801, 9802, "0594"),
    City("Hoogezand", 9601, 9603, "0598"),
    City("Winschoten", 9671, 9675, "0597"),
    City("Drachten", 9200, 9206, "0512"),
    City("Zwolle", 8011, 8043, "038"),
    City("Amsterdam", 1011, 1109, "020"),
]
GRONINGEN_WEIGHTS = [50, 6, 8, 8, 4, 4, 3, 4, 5, 8]

STREETS = [
    "Kerkstraat",
    "Dorpsstraat",
    "Molenweg",
    "Stationsweg",
    "Julianalaan",
    "Beatrixstraat",
    "Wilhelminastraat",
    "Oranjelaan",
    "Hoofdstraat",
    "Schoolstraat",
    "Nieuwstraat",
    "Marktstraat",
    "Parallelweg",
    "Havenstraat",
    "Lindenlaan",
    "Eikenlaan",
    "Beukenlaan",
    "Kastanjelaan",
    "Rembrandtlaan",
    "Vondelstraat",
    "Prinses Irenestraat",
    "Burgemeester de Withstraat",
    "Emmastraat",
    "Mauritsstraat",
    "Spoorstraat",
    "Zandweg",
    "Koningin Julianaweg",
    "Van Goghstraat",
    "Merelstraat",
    "Lijsterbeslaan",
    "Zonnebloemstraat",
    "Tulpstraat",
    "Ganzenmarkt",
    "Achter de Kerk",
    "Singel",
    "Oude Gracht",
    "Nieuwe Weg",
    "Veldweg",
    "Jan Steenstraat",
    "Thorbeckelaan",
    "Graaf Florisstraat",
    "Hofstraat",
    "Bloemstraat",
    "Esdoornlaan",
    "Populierenlaan",
    "Karel Doormanstraat",
    "Piet Heinstraat",
    "Rijnkade",
    "Waterstraat",
    "Zuiderstraat",
    "Noorderweg",
    "Brink",
    "Boslaan",
    "Reigerlaan",
]
BUSINESS_STREETS = [
    "Industrieweg",
    "Nijverheidsweg",
    "Handelskade",
    "Ambachtsweg",
    "Edisonweg",
    "Marconistraat",
    "Bedrijvenweg",
    "Energieweg",
    "Transportweg",
    "Zuiderparkweg",
    "Kanaalweg",
    "Koopmansweg",
    "Mercuriusweg",
    "Galvaniweg",
    "Zwarteweg",
    "Innovatielaan",
]
POSTAL_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"


@dataclass(frozen=True)
class ForeignPlace:
    street: str
    postal_code: str
    city: str
    country: str
    phone_prefix: str
    language: str


FOREIGN_PLACES = [
    ForeignPlace("Lange Straße", "26122", "Oldenburg", "DE", "+49 441", "en"),
    ForeignPlace("Prinzipalmarkt", "48143", "Münster", "DE", "+49 251", "en"),
    ForeignPlace("Schlachte", "28195", "Bremen", "DE", "+49 421", "en"),
    ForeignPlace("Rue Antoine Dansaert", "1000", "Brussel", "BE", "+32 2", "en"),
    ForeignPlace("Kloosterstraat", "2000", "Antwerpen", "BE", "+32 3", "nl"),
]

# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Jan",
    "Sanne",
    "Fatima",
    "Mohammed",
    "Daan",
    "Emma",
    "Lotte",
    "Kees",
    "Henk",
    "Ingrid",
    "Priya",
    "Wei",
    "Bram",
    "Fleur",
    "Sven",
    "Anouk",
    "Joost",
    "Marieke",
    "Pieter",
    "Annemiek",
    "Youssef",
    "Noor",
    "Thijs",
    "Lisa",
    "Ruben",
    "Eva",
    "Mark",
    "Linda",
    "Peter",
    "Monique",
    "Sandra",
    "Erik",
    "Esther",
    "Bas",
    "Iris",
    "Tom",
    "Femke",
    "Rik",
    "Maaike",
    "Gerrit",
    "Wilma",
    "Ahmet",
    "Elif",
    "Mehmet",
    "Ayşe",
    "Dewi",
    "Rajesh",
    "Chantal",
    "Kevin",
    "Sophie",
    "Julia",
    "Lucas",
    "Sem",
    "Tess",
    "Hanneke",
    "Geert",
    "Jolanda",
    "Willem",
    "Anneke",
    "Johan",
    "Roel",
    "Marloes",
    "Karin",
    "Stefan",
    "Nadia",
    "Samira",
    "Omar",
    "Hamza",
    "Stijn",
    "Wouter",
    "Renée",
    "José",
    "Jeroen",
    "Martijn",
    "Sietske",
    "Hidde",
    "Jelle",
    "Froukje",
    "Marco",
]
SURNAMES = [
    "de Vries",
    "van den Berg",
    "Jansen",
    "Bakker",
    "el Amrani",
    "Yılmaz",
    "van Dijk",
    "de Jong",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "van de Ven",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "van der Wal",
    "Prins",
    "Blom",
    "Huisman",
    "Kuipers",
    "van Wijk",
    "Postma",
    "Kramer",
    "Bouzid",
    "Öztürk",
    "Nguyen",
    "Kaya",
    "Tahiri",
    "Ramdin",
    "Sewdien",
    "Bosma",
    "Zijlstra",
    "Wierenga",
    "ter Horst",
    "Nijhuis",
    "Wolters",
    "Lubbers",
    "Hofstede",
    "van 't Hof",
    "Kloosterman",
    "Oosterhuis",
    "Boukhari",
    "Chen",
    "Pranoto",
    "Haddou",
    "Bulut",
]
CONSUMER_MAIL_DOMAINS = [
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "ziggo.nl",
    "kpnmail.nl",
    "live.nl",
    "xs4all.nl",
    "home.nl",
    "planet.nl",
    "icloud.com",
]
CONSUMER_MAIL_WEIGHTS = [34, 20, 10, 10, 8, 5, 3, 3, 3, 4]

BANKS = ["INGB", "RABO", "ABNA", "SNSB", "ASNB", "TRIO", "KNAB", "BUNQ"]
BANK_WEIGHTS = [35, 28, 20, 6, 3, 2, 3, 3]

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def ascii_slug(text: str, sep: str = "") -> str:
    """Lower-case ASCII letters and digits only, words joined by `sep`."""
    text = unicodedata.normalize("NFKD", text.replace("ı", "i").replace("ß", "ss"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in text).split()
    return sep.join(words)


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"


def postal_code(rng: random.Random, city: City) -> str:
    while True:
        letters = rng.choice(POSTAL_LETTERS) + rng.choice(POSTAL_LETTERS)
        if letters not in ("SA", "SD", "SS"):
            return f"{rng.randint(city.postal_lo, city.postal_hi)} {letters}"


def house_number(rng: random.Random) -> str:
    number = str(int(rng.triangular(1, 180, 12)))
    suffix = rng.choices(["", "a", "b", "-1", "-2", " bis"], [88, 5, 2, 2, 2, 1])[0]
    return number + suffix


def landline(rng: random.Random, area_code: str) -> str:
    digits = 10 - len(area_code)
    first = str(rng.randint(2, 8))
    rest = "".join(str(rng.randint(0, 9)) for _ in range(digits - 1))
    return f"{area_code}-{first}{rest}"


def mobile(rng: random.Random) -> str:
    return "06-" + str(rng.randint(1, 6)) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def dutch_iban(rng: random.Random) -> str:
    bank = rng.choices(BANKS, BANK_WEIGHTS)[0]
    if bank == "INGB":
        # former Postbank numbers: up to seven digits, no eleven-test
        account = f"{rng.randint(10_000, 9_999_999):010d}"
    else:
        while True:  # the old Dutch "elfproef" on ten-digit bank account numbers
            head = "20" if bank == "BUNQ" else "0" + str(rng.randint(1, 9))
            head += "".join(str(rng.randint(0, 9)) for _ in range(9 - len(head)))
            total = sum((10 - i) * int(d) for i, d in enumerate(head))
            last = (-total) % 11
            if last < 10:
                account = head + str(last)
                break
    bban = bank + account
    number = "NL" + stdnum_iban.calc_check_digits("NL00" + bban) + bban
    return stdnum_iban.validate(number)


def belgian_iban(rng: random.Random) -> str:
    bank = rng.choice(["001", "068", "363", "734", "735"])  # BNP Fortis, Belfius, ING, KBC
    body = bank + f"{rng.randint(0, 9_999_999):07d}"
    check = int(body) % 97 or 97
    bban = f"{body}{check:02d}"
    return stdnum_iban.validate("BE" + stdnum_iban.calc_check_digits("BE00" + bban) + bban)


def german_iban(rng: random.Random) -> str:
    blz = rng.choice(["28050100", "40050150", "29050101", "28020050"])  # Sparkassen, OLB
    bban = blz + f"{rng.randint(0, 9_999_999_999):010d}"
    return stdnum_iban.validate("DE" + stdnum_iban.calc_check_digits("DE00" + bban) + bban)


def nl_vat_legal_entity(rng: random.Random) -> str:
    """An RSIN-based btw number (B.V., V.O.F., stichting, gemeente): eleven-test digits."""
    while True:
        head = str(rng.randint(1, 8)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
        for last in range(10):
            if bsn.checksum(head + str(last)) == 0:
                number = f"NL{head}{last}B{rng.choice(['01', '01', '01', '02'])}"
                return "NL" + nl_btw.validate(number)


def nl_vat_sole_trader(rng: random.Random) -> str:
    """The btw-id that sole traders get since 2020: mod 97 over the whole number."""
    while True:
        digits = "".join(str(rng.randint(0, 9)) for _ in range(9))
        for suffix in range(1, 100):
            candidate = f"NL{digits}B{suffix:02d}"
            if mod_97_10.is_valid(candidate) and not bsn.is_valid(digits):
                return "NL" + nl_btw.validate(candidate)


def be_vat_number(rng: random.Random) -> str:
    while True:
        head = "0" + str(rng.randint(2, 9)) + f"{rng.randint(0, 999_999):06d}"
        check = 97 - int(head) % 97
        number = f"{head}{check:02d}"
        if be_vat.is_valid(number):
            return "BE" + number


def de_vat_number(rng: random.Random) -> str:
    head = str(rng.randint(1, 9)) + f"{rng.randint(0, 9_999_999):07d}"
    return "DE" + de_vat.validate(head + mod_11_10.calc_check_digit(head))


def kvk_number(rng: random.Random) -> str:
    return str(rng.randint(10_000_000, 98_999_999))


DUTCH_MONTHS = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]
ENGLISH_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def dutch_date(d: date) -> str:
    return f"{d.day} {DUTCH_MONTHS[d.month - 1]} {d.year}"


def previous_month(d: date) -> date:
    return d.replace(day=1) - timedelta(days=1)


# --------------------------------------------------------------------------------------------
# The model the generator works with
# --------------------------------------------------------------------------------------------

# Days overdue at the anchor, by bucket: (low, high); the first bucket is "not yet due" and
# is drawn from the debtor's payment term instead.
BUCKETS: list[tuple[int, int]] = [
    (0, 0),
    (1, 2),
    (3, 17),
    (18, 33),
    (34, 47),
    (48, 90),
    (91, 365),
    (366, 620),
]
PROFILES: dict[str, list[int]] = {
    "prompt": [56, 9, 29, 5, 1, 0, 0, 0],
    "normal": [36, 6, 27, 15, 8, 6, 2, 0],
    "slow": [20, 5, 19, 17, 13, 14, 10, 2],
    "bad": [8, 2, 10, 11, 11, 20, 27, 11],
}


@dataclass
class Debtor:
    code: str
    name: str
    kind: str
    segment: str
    email: str = ""
    phone: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NL"
    iban: str = ""
    vat_number: str = ""
    kvk_number: str = ""
    language: str = "nl"
    term: int = 30
    tags: list[str] = field(default_factory=list)
    profile: str = "normal"
    volume: float = 1.0  # share of the administration's items
    scale: float = 1.0  # size of the customer: multiplies the amounts of recurring deliveries
    weekly: bool = False  # invoiced once a week, on Monday, for the previous week

    def row(self) -> list[str]:
        return [
            self.code,
            self.name,
            self.kind,
            self.email,
            self.phone,
            self.street,
            self.postal_code,
            self.city,
            self.country,
            self.iban,
            self.vat_number,
            self.kvk_number,
            self.language,
            str(self.term),
            ";".join(self.tags),
        ]


@dataclass
class Item:
    debtor: Debtor
    invoice_date: date
    amount: Decimal
    open_amount: Decimal
    description: str
    credits: Item | None = None  # for a credit note: the invoice it corrects
    credit_reason: str = ""
    number: str = ""

    @property
    def due_date(self) -> date:
        return self.invoice_date + timedelta(days=self.debtor.term)

    def row(self) -> list[str]:
        return [
            self.number,
            self.debtor.code,
            self.invoice_date.isoformat(),
            self.due_date.isoformat(),
            fmt(self.amount),
            fmt(self.open_amount),
            "EUR",
            self.description,
        ]


# A trade function returns (description, net amount) for one invoice of a debtor on a date.
Trade = Callable[[random.Random, Debtor, date], tuple[str, Decimal]]


@dataclass
class Company:
    slug: str
    name: str
    vat_rate: Decimal
    n_items: int
    number_gap: int  # invoices numbered between two open ones: the paid ones in between
    invoices_per_day: float  # how fast the invoice numbers grow over a year
    debtors: Callable[[random.Random], list[Debtor]]
    trade: Trade
    credit_reasons: Sequence[str]


class Registry:
    """Unique names and e-mail addresses within one administration."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.emails: set[str] = set()

    def name(self, candidate: str) -> bool:
        if candidate in self.names:
            return False
        self.names.add(candidate)
        return True

    def email(self, candidates: Sequence[str]) -> str:
        for candidate in candidates:
            if candidate not in self.emails:
                self.emails.add(candidate)
                return candidate
        msg = f"no free e-mail address among {candidates}"
        raise RuntimeError(msg)


def pick_city(rng: random.Random, cities: Sequence[City], weights: Sequence[int]) -> City:
    return rng.choices(list(cities), list(weights))[0]


def consumer(
    rng: random.Random,
    reg: Registry,
    code: str,
    cities: Sequence[City],
    weights: Sequence[int],
    segment: str,
) -> Debtor:
    while True:
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        if reg.name(f"{first} {last}"):
            break
    f, s = ascii_slug(first), ascii_slug(last)
    year = str(rng.randint(62, 99))
    domain = rng.choices(CONSUMER_MAIL_DOMAINS, CONSUMER_MAIL_WEIGHTS)[0]
    locals_ = [f"{f}.{s}", f"{f[0]}.{s}", f"{f}{s}", f"{f}.{s}{year}", f"{f}_{s}{year[-1]}"]
    preferred = rng.choices(locals_, [40, 15, 15, 20, 10])[0]
    locals_ = [preferred] + [local for local in locals_ if local != preferred]
    city = pick_city(rng, cities, weights)
    return Debtor(
        code=code,
        name=f"{first} {last}",
        kind="consumer",
        segment=segment,
        email=reg.email([f"{local}@{domain}" for local in locals_]),
        phone=mobile(rng) if rng.random() < 0.85 else "",
        street=f"{rng.choice(STREETS)} {house_number(rng)}",
        postal_code=postal_code(rng, city),
        city=city.name,
        iban=dutch_iban(rng) if rng.random() < 0.93 else "",
        term=14,
        profile=rng.choices(list(PROFILES), [44, 30, 16, 10])[0],
    )


def business(
    rng: random.Random,
    reg: Registry,
    code: str,
    name: str,
    segment: str,
    *,
    city: City,
    form: str,
    mailbox: str = "",
    tags: Sequence[str] = (),
    term: int | None = None,
    profile: str | None = None,
    volume: float = 1.0,
    weekly: bool = False,
    vat: bool = True,
    domain: str = "",
) -> Debtor:
    """A Dutch business debtor. `form` is bv, vof, eenmanszaak, stichting, vereniging, overheid."""
    reg.name(name)
    base = name
    for legal in (" B.V.", " V.O.F.", " N.V."):
        base = base.replace(legal, "")
    domain = domain or short_domain(base)
    mailbox = (
        mailbox
        or rng.choices(
            ["info", "administratie", "facturen", "boekhouding", "crediteuren"],
            [40, 25, 20, 10, 5],
        )[0]
    )
    street_pool = BUSINESS_STREETS if rng.random() < 0.35 else STREETS
    if vat:
        vat_number = nl_vat_sole_trader(rng) if form == "eenmanszaak" else nl_vat_legal_entity(rng)
    else:
        vat_number = ""
    return Debtor(
        code=code,
        name=name,
        kind="business",
        segment=segment,
        email=reg.email([f"{mailbox}@{domain}", f"administratie@{domain}", f"info@{domain}"]),
        phone=landline(rng, city.area_code),
        street=f"{rng.choice(street_pool)} {house_number(rng)}",
        postal_code=postal_code(rng, city),
        city=city.name,
        iban=dutch_iban(rng) if rng.random() < 0.96 else "",
        vat_number=vat_number,
        kvk_number=kvk_number(rng),
        term=term if term is not None else rng.choices([30, 14, 21, 8], [62, 28, 6, 4])[0],
        tags=list(tags),
        profile=profile or rng.choices(list(PROFILES), [30, 40, 20, 10])[0],
        volume=volume,
        scale=min(2.2, max(0.45, rng.lognormvariate(0, 0.45))),
        weekly=weekly,
    )


GENERIC_WORDS = {
    "hotel",
    "restaurant",
    "cafe",
    "eetcafe",
    "grand",
    "bistro",
    "brasserie",
    "lunchroom",
    "koffiehuis",
    "theehuis",
    "pannenkoekenhuis",
    "stichting",
    "vereniging",
    "tennisvereniging",
    "vve",
    "appartementencomplex",
    "kinderopvang",
    "adviesbureau",
    "boerderijwinkel",
}


def short_domain(name: str) -> str:
    """A web domain as a company would register it: its name, a generic first word dropped."""
    words = ascii_slug(name.replace("Vereniging van Eigenaars", "VvE"), " ").split()
    while len("".join(words)) > 20 and len(words) > 2 and words[0] in GENERIC_WORDS:
        words = words[1:]
    return "".join(words) + ".nl"


def legal_suffix(rng: random.Random) -> tuple[str, str]:
    form = rng.choices(["bv", "vof", "eenmanszaak"], [45, 30, 25])[0]
    return form, {"bv": " B.V.", "vof": " V.O.F.", "eenmanszaak": ""}[form]


class Codes:
    """Debtor codes as a package hands them out: ascending, with gaps for removed debtors."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.next = start

    def __call__(self) -> str:
        code = str(self.next)
        self.next += self.rng.choices([1, 2, 3, 7], [80, 12, 5, 3])[0]
        return code


# --------------------------------------------------------------------------------------------
# Bakkerij van Dijk: bread and pastry for horeca, care homes and offices around Utrecht
# --------------------------------------------------------------------------------------------

HORECA_TYPES = [
    "Café",
    "Eetcafé",
    "Restaurant",
    "Brasserie",
    "Lunchroom",
    "Grand Café",
    "Bistro",
    "Koffiehuis",
    "Hotel",
    "Pannenkoekenhuis",
    "Hotel-Restaurant",
    "Theehuis",
]
HORECA_NAMES = [
    "De Zwaan",
    "Het Gouden Hert",
    "De Vergulde Pauw",
    "Het Pakhuis",
    "De Kade",
    "Het Oude Raadhuis",
    "De Molen",
    "De Linde",
    "Het Hoekje",
    "De Proeverij",
    "De Smaak",
    "De Kromme Rijn",
    "Het Bolwerk",
    "De Postkoets",
    "Buitenlust",
    "Het Veerhuis",
    "De Jonge Haan",
    "Het Tuinhuis",
    "De Boterbloem",
    "Zuiderhof",
    "De Zeven Linden",
    "Het Kasteeltje",
    "De Witte Raaf",
    "Lekker Gewoon",
    "Bij Bert",
    "Het Wapen van Bunnik",
    "De Oude Pastorie",
    "Rhijnauwen",
    "De Tuinen",
    "Het Spoorhuys",
    "De Vriendschap",
    "Amelisweerd",
    "De Gildekamer",
    "Oost",
    "Buurman & Buurman",
    "De Walvis",
]


def bakery_debtors(rng: random.Random) -> list[Debtor]:
    reg, code, out = Registry(), Codes(rng, 1001), []
    names = rng.sample(HORECA_NAMES, len(HORECA_NAMES))
    types = HORECA_TYPES
    for i in range(30):
        form, suffix = legal_suffix(rng)
        kind = rng.choice(types)
        name = f"{kind} {names[i]}{suffix}"
        big = kind.startswith("Hotel") or rng.random() < 0.15
        tags = ["horeca"] + (["vip"] if big and rng.random() < 0.5 else [])
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                "horeca",
                city=pick_city(rng, UTRECHT_AREA, UTRECHT_WEIGHTS),
                form=form,
                tags=tags,
                weekly=rng.random() < 0.8,
                volume=rng.lognormvariate(0.4 if big else 0, 0.5),
                profile=rng.choices(list(PROFILES), [20, 36, 28, 16])[0],
            )
        )
    institutions = [
        ("Stichting Zorgcentrum De Linde", "zorg"),
        ("Stichting Woonzorg Het Baken", "zorg"),
        ("Hospice De Kromme Rijn", "zorg"),
        ("Stichting Scholengroep Kromme Rijn", "onderwijs"),
        ("Stichting Kinderopvang Dikkertje Dap", "zorg"),
    ]
    for name, tag in institutions:
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                "instelling",
                city=pick_city(rng, UTRECHT_AREA[:6], [5, 5, 2, 2, 1, 1]),
                form="stichting",
                tags=[tag],
                vat=False,
                weekly=True,
                term=30,
                volume=rng.uniform(1.2, 2.0),
                mailbox="crediteuren",
            )
        )
    offices = [
        "Vergadercentrum De Kapel B.V.",
        "Bedrijfscatering Smaakvol B.V.",
        "Tennisvereniging De Rijnstreek",
        "Voetbalvereniging Houten '68",
        "Congrescentrum Bunnik B.V.",
        "Adviesbureau Van Rossum & Partners B.V.",
    ]
    for name in offices:
        form = "vereniging" if "vereniging" in name else "bv"
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                "kantoor",
                city=pick_city(rng, UTRECHT_AREA, UTRECHT_WEIGHTS),
                form=form,
                weekly=rng.random() < 0.6,
                volume=rng.uniform(0.5, 1.4),
                tags=["sport"] if form == "vereniging" else [],
            )
        )
    shops = [
        ("Delicatessen Het Proeflokaal", "eenmanszaak"),
        ("Kaashandel Van der Wal V.O.F.", "vof"),
        ("Koffiebranderij De Boon V.O.F.", "vof"),
        ("Supermarkt Van Leeuwen B.V.", "bv"),
        ("Tankstation De Poort B.V.", "bv"),
        ("Boerderijwinkel De Hooiberg", "eenmanszaak"),
        ("Versmarkt Oudegracht B.V.", "bv"),
    ]
    for name, form in shops:
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                "winkel",
                city=pick_city(rng, UTRECHT_AREA, UTRECHT_WEIGHTS),
                form=form,
                tags=["retail"],
                weekly=rng.random() < 0.7,
                volume=rng.uniform(0.6, 1.5),
                term=rng.choice([14, 14, 30]),
            )
        )
    out.append(
        business(
            rng,
            reg,
            code(),
            "Gemeente Houten",
            "overheid",
            city=UTRECHT_AREA[0],
            form="overheid",
            tags=["overheid"],
            term=30,
            profile="slow",
            volume=0.5,
            domain="houten.nl",
            mailbox="facturen",
        )
    )
    for _ in range(8):
        out.append(consumer(rng, reg, code(), UTRECHT_AREA, UTRECHT_WEIGHTS, "particulier"))
    return out


def bakery_trade(rng: random.Random, debtor: Debtor, day: date) -> tuple[str, Decimal]:
    if debtor.kind == "consumer":
        options = [
            ("Bruidstaart drie lagen, afgeleverd op locatie", 260, 620),
            ("Verjaardagstaart met fotoprint", 32, 68),
            ("Taarten en gebak voor een receptie", 65, 240),
            ("Kerststollen en kerstbrood, bestelling", 24, 75),
            ("Petit fours en bonbons, 60 stuks", 72, 96),
        ]
        desc, lo, hi = rng.choice(options)
        return desc, money(rng.uniform(lo, hi))
    if debtor.weekly:
        week_start = day - timedelta(days=7)
        week = week_start.isocalendar().week
        last = week_start + timedelta(days=6)
        period = f"{week_start:%d-%m} t/m {last:%d-%m}"
        if week_start.month == 12 and week_start.day >= 15:
            desc = f"Leveringen brood, banket en kerststollen week {week} ({period})"
        else:
            desc = f"Leveringen brood en banket week {week} ({period})"
        return desc, money(rng.uniform(70, 420) * debtor.scale)
    options = [
        (f"Levering {dutch_date(day)}: brood, broodjes en gebak", 28, 240),
        ("Gebak en taarten voor een personeelsbijeenkomst", 55, 320),
        ("Lunchbroodjes en krentenbollen, vergaderarrangement", 80, 460),
        (f"Levering {dutch_date(day)}: afbakbrood en croissants", 45, 280),
    ]
    if day.month == 12:
        options.append(("Kerststollen en kerstkransjes, relatiegeschenken", 180, 780))
    desc, lo, hi = rng.choice(options)
    return desc, money(rng.uniform(lo, hi) * debtor.scale)


# --------------------------------------------------------------------------------------------
# Installatiebedrijf Jansen: heating, plumbing and heat pumps, mostly for households
# --------------------------------------------------------------------------------------------


def installer_debtors(rng: random.Random) -> list[Debtor]:
    reg, code, out = Registry(), Codes(rng, 20001), []
    deventer = SALLAND[0]
    fixed = [
        ("Woonstichting IJsselland", "corporatie", "stichting", ["corporatie", "vip"], 5.5, 30),
        ("Woningbouwvereniging Salland", "corporatie", "vereniging", ["corporatie"], 3.5, 30),
        ("VvE Het Bolwerk", "vve", "vereniging", ["vve"], 1.2, 14),
        ("VvE Appartementencomplex De Hoven", "vve", "vereniging", ["vve"], 1.0, 14),
        ("Vereniging van Eigenaars Zandweerd-Noord", "vve", "vereniging", ["vve"], 0.9, 14),
        ("VvE Brinkpoort", "vve", "vereniging", ["vve"], 0.8, 14),
        ("VvE Villa Rijsterborgh", "vve", "vereniging", ["vve"], 0.6, 14),
        ("Gemeente Deventer", "overheid", "overheid", ["overheid"], 1.6, 30),
        ("Stichting Primair Onderwijs Salland", "onderwijs", "stichting", ["onderwijs"], 1.4, 30),
        ("Restaurant De IJsselkade B.V.", "zakelijk", "bv", ["horeca"], 0.8, 14),
        ("Tandartspraktijk Keizerslanden", "zakelijk", "eenmanszaak", ["zorg"], 0.6, 14),
        ("Sportschool Fit & Vitaal V.O.F.", "zakelijk", "vof", [], 0.6, 14),
        ("Autobedrijf Nijhuis B.V.", "zakelijk", "bv", [], 0.7, 30),
        ("Kinderdagverblijf De Boomhut B.V.", "zakelijk", "bv", ["zorg"], 0.6, 30),
        ("Kantoorverhuur Handelskade B.V.", "zakelijk", "bv", ["vip"], 1.0, 30),
        ("Bouwbedrijf Wolters & Zn. B.V.", "zakelijk", "bv", ["onderaannemer"], 1.5, 30),
    ]
    for name, segment, form, tags, volume, term in fixed:
        vat = segment not in ("vve", "onderwijs")
        profile = {"overheid": "slow", "corporatie": "normal"}.get(segment)
        domain = "deventer.nl" if segment == "overheid" else ""
        mailbox = "facturen" if segment in ("overheid", "corporatie") else ""
        city = deventer if rng.random() < 0.7 else pick_city(rng, SALLAND, SALLAND_WEIGHTS)
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                segment,
                city=city,
                form=form,
                tags=tags,
                term=term,
                volume=volume,
                vat=vat,
                profile=profile,
                domain=domain,
                mailbox=mailbox,
            )
        )
    for _ in range(70):
        out.append(consumer(rng, reg, code(), SALLAND, SALLAND_WEIGHTS, "particulier"))
    return out


BOILERS = [
    "Intergas Xtreme 36",
    "Remeha Calenta Ace 35",
    "Nefit EcoPlus HRC30",
    "Vaillant ecoTEC plus",
    "ATAG i36C",
    "Intergas Kombi Kompakt HRE 28/24",
]
HEAT_PUMPS = ["Intergas Xource", "Remeha Elga Ace", "Daikin Altherma 3", "Itho Daalderop HP-S"]
LEAKS = [
    "badkamer",
    "keuken",
    "toilet",
    "cv-leiding in de kruipruimte",
    "dakgoot",
    "wasmachinekraan",
]


def installer_trade(rng: random.Random, debtor: Debtor, day: date) -> tuple[str, Decimal]:
    boiler, pump, leak = rng.choice(BOILERS), rng.choice(HEAT_PUMPS), rng.choice(LEAKS)
    work_order = rng.randint(4100, 9899)
    if debtor.kind == "consumer":
        options: list[tuple[str, float, float, int]] = [
            (
                f"Vervanging cv-ketel door {boiler}, incl. montage en afvoer oude ketel",
                1850,
                2950,
                16,
            ),
            (f"Onderhoud cv-ketel {boiler}", 82, 128, 22),
            ("Storing cv-installatie: voorrijkosten en eerste uur arbeid", 85, 165, 16),
            (f"Lekkage {leak} verholpen, inclusief materiaal", 115, 480, 14),
            (f"Installatie hybride warmtepomp {pump}", 3300, 5600, 6),
            ("Aanleg vloerverwarming woonkamer en keuken", 1650, 4400, 4),
            (f"Renovatie badkamer, termijn {rng.randint(1, 3)} van 3", 2400, 5200, 5),
            ("Vervanging close-in boiler en mengkraan keuken", 380, 720, 6),
            ("Ontstopping riolering met hogedrukreiniger", 110, 290, 7),
            ("Plaatsen slimme thermostaat en inregelen cv", 190, 340, 6),
        ]
    elif debtor.segment == "corporatie":
        street = rng.choice(STREETS)
        options = [
            (f"Mutatieonderhoud woning {street} {house_number(rng)}", 240, 1650, 30),
            (f"Werkbon {work_order}: storing cv {street} {house_number(rng)}", 95, 380, 35),
            (f"Vervanging cv-ketel {street} {house_number(rng)}", 1750, 2450, 15),
            (
                f"Legionellabeheer collectieve installaties {DUTCH_MONTHS[day.month - 1]}",
                180,
                420,
                10,
            ),
            (f"Werkbon {work_order}: lekkage {leak}", 120, 560, 20),
        ]
    elif debtor.segment == "vve":
        quarter = (day.month - 1) // 3 + 1
        options = [
            (f"Onderhoudscontract collectieve cv, kwartaal {quarter} {day.year}", 420, 980, 40),
            (f"Werkbon {work_order}: storing collectieve installatie", 140, 520, 35),
            (f"Lekkage {leak} gemeenschappelijke ruimte verholpen", 160, 640, 25),
        ]
    else:
        options = [
            (
                f"Periodiek onderhoud klimaatinstallatie, {DUTCH_MONTHS[day.month - 1]} {day.year}",
                240,
                880,
                30,
            ),
            (f"Werkbon {work_order}: storing verwarming", 120, 480, 30),
            (f"Lekkage {leak} verholpen", 140, 560, 15),
            ("Installatie luchtbehandeling vergaderruimte", 3800, 12500, 5),
            ("Meerwerk volgens opdracht, uren en materiaal", 450, 2600, 15),
            ("Vervanging warmwatervoorziening", 900, 2400, 5),
        ]
    desc, lo, hi, _ = rng.choices(options, [o[3] for o in options])[0]
    net = rng.uniform(lo, hi)
    if hi > 1500:
        net = round(net / 5) * 5  # quoted prices
    return desc, money(net)


# --------------------------------------------------------------------------------------------
# Studio Noord: graphic design, websites and photography in Groningen
# --------------------------------------------------------------------------------------------

STUDIO_CLIENTS = [
    ("Noorderlicht Software B.V.", "bv"),
    ("Hunze Energie Advies", "eenmanszaak"),
    ("Koffiebranderij Het Zuiderdiep V.O.F.", "vof"),
    ("Bosma & Wierenga Advocaten", "vof"),
    ("Fysiotherapie Helpman", "eenmanszaak"),
    ("Tandartspraktijk Oosterpark B.V.", "bv"),
    ("Makelaardij Dijkstra B.V.", "bv"),
    ("Bouwbedrijf Zijlstra B.V.", "bv"),
    ("Wadden Events", "eenmanszaak"),
    ("Stichting Muziekfestival Ommeland", "stichting"),
    ("Brouwerij De Zeven Wierden V.O.F.", "vof"),
    ("Kinderopvang De Stadstuin B.V.", "bv"),
    ("Hoekstra Installatietechniek B.V.", "bv"),
    ("Boekhandel Van der Velde-Noord", "eenmanszaak"),
    ("Fietsenmakerij Kees Postma", "eenmanszaak"),
    ("Yoga Studio Zuid", "eenmanszaak"),
    ("Stichting Historisch Centrum Veenkoloniën", "stichting"),
    ("Agrarisch Loonbedrijf Wierenga V.O.F.", "vof"),
    ("DataDijk B.V.", "bv"),
    ("Restaurant Het Schathuis", "eenmanszaak"),
    ("Hotel De Ploeg B.V.", "bv"),
    ("Huisartsenpraktijk Selwerd", "vof"),
    ("Accountantskantoor Mulder & Kok B.V.", "bv"),
    ("Schildersbedrijf Oosterhuis", "eenmanszaak"),
    ("GreenGrid Solutions B.V.", "bv"),
    ("Stichting Buurtcentrum De Wijert", "stichting"),
    ("Kapsalon Knipkunst", "eenmanszaak"),
    ("Theater De Kroon", "stichting"),
    ("Zorgboerderij De Kiekendief", "stichting"),
    ("Vereniging Binnenstad Groningen", "vereniging"),
    ("Hanze Fysio & Sport V.O.F.", "vof"),
    ("Lubbers Transport B.V.", "bv"),
    ("Wolters Interieurbouw B.V.", "bv"),
    ("Reclamebureau Noordkaap", "eenmanszaak"),
    ("Pianohandel Kloosterman", "eenmanszaak"),
    ("Kaasboerderij Ter Horst", "vof"),
    ("ZorgApp Noord B.V.", "bv"),
    ("Camping De Drie Provinciën", "vof"),
    ("Notariskantoor Haddou & Nijhuis", "vof"),
]
FOREIGN_CLIENTS = [
    "Nordwest Medien GmbH",
    "Hafenblick Architekten GmbH",
    "Weserland Kaffee GmbH",
    "Atelier Dansaert SRL",
    "Studio Scheldekaai BV",
]


def studio_debtors(rng: random.Random) -> list[Debtor]:
    reg, code, out = Registry(), Codes(rng, 101), []
    for name, form in STUDIO_CLIENTS:
        tags = []
        if form == "stichting" or name.startswith("Vereniging"):
            tags.append("cultuur")
        if rng.random() < 0.12:
            tags.append("vip")
        if name.startswith(("Restaurant", "Hotel", "Brouwerij", "Camping")):
            tags.append("horeca")
        if "Huisartsen" in name or "Tandarts" in name or "Zorg" in name:
            tags.append("zorg")
        out.append(
            business(
                rng,
                reg,
                code(),
                name,
                "zakelijk",
                city=pick_city(rng, GRONINGEN_AREA, GRONINGEN_WEIGHTS),
                form=form,
                tags=tags,
                volume=min(2.2, rng.lognormvariate(0, 0.55)),
                vat=form != "stichting" or rng.random() < 0.5,
            )
        )
    out.append(
        business(
            rng,
            reg,
            code(),
            "Gemeente Groningen",
            "overheid",
            city=GRONINGEN_AREA[0],
            form="overheid",
            tags=["overheid"],
            term=30,
            profile="slow",
            volume=1.3,
            domain="groningen.nl",
            mailbox="facturen",
        )
    )
    for name, place in zip(FOREIGN_CLIENTS, FOREIGN_PLACES, strict=True):
        reg.name(name)
        domain = ascii_slug(name.rsplit(" ", 1)[0], "-") + "." + place.country.lower()
        de = place.country == "DE"
        phone = place.phone_prefix + " " + "".join(str(rng.randint(1, 9)) for _ in range(7))
        out.append(
            Debtor(
                code=code(),
                name=name,
                kind="business",
                segment="buitenland",
                email=reg.email([f"{'buchhaltung' if de else 'invoices'}@{domain}"]),
                phone=phone,
                street=f"{place.street} {rng.randint(2, 88)}",
                postal_code=place.postal_code,
                city=place.city,
                country=place.country,
                iban=german_iban(rng) if de else belgian_iban(rng),
                vat_number=de_vat_number(rng) if de else be_vat_number(rng),
                language=place.language,
                term=30,
                tags=["buitenland"],
                profile=rng.choice(["prompt", "normal", "slow"]),
                volume=rng.uniform(0.5, 1.2),
            )
        )
    for _ in range(15):
        out.append(consumer(rng, reg, code(), GRONINGEN_AREA, GRONINGEN_WEIGHTS, "particulier"))
    return out


def studio_trade(rng: random.Random, debtor: Debtor, day: date) -> tuple[str, Decimal]:
    month = previous_month(day)
    if debtor.kind == "consumer":
        options: list[tuple[str, float, float, int]] = [
            ("Bruiloftsreportage, hele dag inclusief nabewerking", 1150, 2450, 25),
            ("Portretshoot gezin in de studio", 175, 360, 30),
            ("Fotoboek 30x30, 40 pagina's", 85, 240, 20),
            ("Newbornshoot aan huis", 210, 360, 15),
            ("Pasfoto's en portretten voor sollicitatie", 45, 120, 10),
        ]
    elif debtor.language == "en":
        options = [
            ("Product photography, 40 products on white", 680, 1650, 25),
            (f"Website maintenance {ENGLISH_MONTHS[month.month - 1]} {month.year}", 95, 260, 35),
            ("Brand identity design: logo, stationery, style guide", 2400, 5200, 10),
            ("Trade fair booth graphics and banners", 850, 2600, 15),
            ("Design hours as agreed", 0, 0, 15),
        ]
    else:
        options = [
            ("Ontwerp huisstijl: logo, briefpapier en visitekaartjes", 1450, 4200, 6),
            (f"Website onderhoud {DUTCH_MONTHS[month.month - 1]} {month.year}", 65, 240, 30),
            ("Hosting en domeinnaam, jaarabonnement", 180, 420, 8),
            (f"Fotoshoot bedrijfsportretten, {rng.randint(3, 25)} personen", 395, 1450, 10),
            (f"Productfotografie, {rng.randint(10, 80)} producten", 240, 1800, 8),
            (f"Ontwerp en opmaak jaarverslag {day.year - 1}", 1800, 5200, 3),
            (f"Social media contentpakket {DUTCH_MONTHS[month.month - 1]}", 350, 950, 12),
            (f"Drukwerk flyers A5, {rng.choice([250, 500, 1000, 2500])} stuks", 95, 480, 8),
            ("Ontwerpuren volgens opgave", 0, 0, 15),
        ]
    desc, lo, hi, _ = rng.choices(options, [o[3] for o in options])[0]
    if hi == 0:  # billed by the hour
        hours = rng.choice([2, 3, 4, 5, 6, 7.5, 8, 10, 12, 14, 16, 20, 24])
        rate = 85
        if debtor.language == "en":
            return f"{desc} ({hours:g} hours at EUR {rate})", money(hours * rate)
        return f"{desc} ({hours:g} uur à € {rate},-)", money(hours * rate)
    net = rng.uniform(lo, hi)
    if hi > 1000:
        net = round(net / 25) * 25
    return desc, money(net)


COMPANIES = [
    Company(
        slug="bakkerij-van-dijk",
        name="Bakkerij van Dijk B.V.",
        vat_rate=Decimal("0.09"),
        n_items=610,
        number_gap=9,
        invoices_per_day=11.0,
        debtors=bakery_debtors,
        trade=bakery_trade,
        credit_reasons=[
            "retour beschadigde levering",
            "correctie prijsafspraak",
            "niet geleverde broodjes",
            "dubbel gefactureerd",
            "klacht kwaliteit gebak",
        ],
    ),
    Company(
        slug="installatiebedrijf-jansen",
        name="Installatiebedrijf Jansen V.O.F.",
        vat_rate=Decimal("0.21"),
        n_items=410,
        number_gap=4,
        invoices_per_day=3.2,
        debtors=installer_debtors,
        trade=installer_trade,
        credit_reasons=[
            "correctie meerwerk",
            "retour onderdelen",
            "coulance voorrijkosten",
            "korting na klacht",
            "dubbel gefactureerd",
        ],
    ),
    Company(
        slug="studio-noord",
        name="Studio Noord",
        vat_rate=Decimal("0.21"),
        n_items=480,
        number_gap=2,
        invoices_per_day=1.1,
        debtors=studio_debtors,
        trade=studio_trade,
        credit_reasons=[
            "korting vertraagde oplevering",
            "correctie uren",
            "dubbel gefactureerd",
            "geannuleerde fotoshoot",
            "afspraak na klacht",
        ],
    ),
]

# --------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------


def allocate(rng: random.Random, debtors: list[Debtor], total: int) -> list[int]:
    """How many open items each debtor gets: consumers a few, businesses by volume."""
    counts = [0] * len(debtors)
    business_idx = []
    for i, debtor in enumerate(debtors):
        if debtor.kind == "consumer":
            counts[i] = rng.choices([1, 2, 3, 4], [48, 30, 15, 7])[0]
        else:
            business_idx.append(i)
    remaining = total - sum(counts)
    weights = [debtors[i].volume for i in business_idx]
    scale = remaining / sum(weights)
    shares = [w * scale for w in weights]
    for i, share in zip(business_idx, shares, strict=True):
        counts[i] = max(1, int(share))
    by_remainder = sorted(
        range(len(shares)),
        key=lambda k: shares[k] - int(shares[k]),
        reverse=True,
    )
    leftovers = [business_idx[k] for k in by_remainder]
    j = 0
    while sum(counts) < total:
        counts[leftovers[j % len(leftovers)]] += 1
        j += 1
    while sum(counts) > total:
        i = leftovers[j % len(leftovers)]
        if counts[i] > 1:
            counts[i] -= 1
        j += 1
    return counts


def invoice_date_for(rng: random.Random, debtor: Debtor) -> date:
    bucket = rng.choices(BUCKETS, PROFILES[debtor.profile])[0]
    # the first bucket is "not yet due": anywhere within the payment term
    overdue = -rng.randint(0, debtor.term) if bucket == (0, 0) else rng.randint(*bucket)
    day = ANCHOR - timedelta(days=overdue + debtor.term)
    if debtor.weekly:
        return day - timedelta(days=day.weekday())  # the Monday of that week
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1) if day + timedelta(days=1) <= ANCHOR else day - timedelta(2)
    return day


def gross(company: Company, debtor: Debtor, net: Decimal) -> Decimal:
    if debtor.segment == "buitenland":  # intra-EU B2B: VAT reverse-charged
        return net
    return money(net * (1 + company.vat_rate))


def partially_paid(rng: random.Random, amount: Decimal, overdue: bool) -> Decimal:
    """The open amount: mostly everything, sometimes less after a part-payment."""
    if rng.random() >= (0.11 if overdue else 0.02):
        return amount
    for _ in range(10):
        if rng.random() < 0.5:
            paid = money(amount * Decimal(rng.choice(["0.25", "0.5", "0.5", "0.75", "0.4"])))
        else:
            paid = Decimal(rng.choice([25, 50, 100, 150, 250, 500, 1000]))
        if Decimal(0) < paid < amount:
            return amount - paid
    return amount


def make_items(rng: random.Random, company: Company, debtors: list[Debtor]) -> list[Item]:
    items: list[Item] = []
    for debtor, count in zip(debtors, allocate(rng, debtors, company.n_items), strict=True):
        n_credits = sum(1 for _ in range(count - 1) if rng.random() < 0.03) if count > 1 else 0
        invoices: list[Item] = []
        used: set[date] = set()
        misses = 0
        while len(invoices) < count - n_credits:
            if misses > 40:  # more open weeks than a prompt payer has: this one is behind
                debtor.profile = "slow" if debtor.profile in ("prompt", "normal") else "bad"
                misses = 0
            day = invoice_date_for(rng, debtor)
            if day in used and (debtor.weekly or rng.random() < 0.8):
                misses += 1
                continue
            used.add(day)
            desc, net = company.trade(rng, debtor, day)
            amount = gross(company, debtor, net)
            overdue = day + timedelta(days=debtor.term) < ANCHOR
            invoices.append(Item(debtor, day, amount, partially_paid(rng, amount, overdue), desc))
        for _ in range(n_credits):
            original = rng.choice(invoices)
            day = min(ANCHOR, original.invoice_date + timedelta(days=rng.randint(2, 24)))
            if day.weekday() >= 5:
                day -= timedelta(days=day.weekday() - 4)
            reason = rng.choice(company.credit_reasons)
            if reason == "dubbel gefactureerd":
                value = original.amount
            else:
                value = money(original.amount * Decimal(rng.uniform(0.08, 0.5)))
            invoices.append(
                Item(
                    debtor,
                    max(day, original.invoice_date),
                    -value,
                    -value,
                    "",
                    credits=original,
                    credit_reason=reason,
                )
            )
        items.extend(invoices)
    number(rng, company, items)
    return items


def number(rng: random.Random, company: Company, items: list[Item]) -> None:
    """Invoice numbers per year in date order; the gaps are invoices that have been paid."""
    items.sort(key=lambda it: (it.invoice_date, it.credits is not None, it.debtor.code))
    counters: dict[int, int] = {}
    for item in items:
        year = item.invoice_date.year
        day_of_year = item.invoice_date.timetuple().tm_yday
        floor = int(day_of_year * company.invoices_per_day * rng.uniform(0.9, 1.0))
        counters[year] = max(counters.get(year, 0) + rng.randint(1, company.number_gap), floor)
        item.number = f"{year}-{counters[year]:05d}"
    for item in items:
        if item.credits is not None:
            if item.debtor.language == "en":
                item.description = (
                    f"Creditnota (credit note) for invoice {item.credits.number}: "
                    f"{item.credit_reason}"
                )
            else:
                item.description = (
                    f"Creditnota op factuur {item.credits.number}: {item.credit_reason}"
                )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def write_csv(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


#: Each administration as the sender of its letters: fictitious but complete, so that every
#: demo letter carries what a debtor needs to pay and what Dutch business letters must show
#: (connector.dunning.readiness). The IBANs use the bank code DEMO, which no bank has, with
#: valid check digits; the KvK numbers are 8 digits; the addresses are made up.
SENDERS: dict[str, dict[str, str]] = {
    "bakkerij-van-dijk": {
        "street": "Molenstraat 12",
        "postal_code": "3811 BH",
        "city": "Amersfoort",
        "email": "debiteuren@bakkerijvandijk.example",
        "phone": "033-4610021",
        "iban": "DEMO0417164301",
        "kvk_number": "90417164",
        "vat_number": "NL004171640B01",
        "website": "bakkerijvandijk.example",
        "signature": "Met vriendelijke groet,\n\nAdministratie Bakkerij van Dijk",
    },
    "installatiebedrijf-jansen": {
        "street": "Industrieweg 7",
        "postal_code": "7202 CA",
        "city": "Zutphen",
        "email": "facturen@installatiebedrijfjansen.example",
        "phone": "0575-512893",
        "iban": "DEMO0512893407",
        "kvk_number": "90512893",
        "vat_number": "NL005128936B01",
        "website": "installatiebedrijfjansen.example",
        "signature": "Met vriendelijke groet,\n\nAfdeling debiteuren\nInstallatiebedrijf Jansen",
    },
    "studio-noord": {
        "street": "Oude Boteringestraat 44",
        "postal_code": "9712 GK",
        "city": "Groningen",
        "email": "administratie@studionoord.example",
        "phone": "050-3639274",
        "iban": "DEMO0639274518",
        "kvk_number": "90639274",
        "vat_number": "NL006392702B01",
        "website": "studionoord.example",
        "signature": "Met vriendelijke groet,\n\nStudio Noord",
    },
}


def sender_toml(slug: str) -> str:
    """The `[sender]` table of one demo administration (connector.dunning.model.Sender)."""
    values = dict(SENDERS[slug])
    bban = values.pop("iban")
    values["iban"] = stdnum_iban.validate(
        "NL" + stdnum_iban.calc_check_digits("NL00" + bban) + bban
    )
    lines = ["# The administration as sender of its letters (fictitious).", "[sender]"]
    lines.extend(f"{key} = {toml_string(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> None:
    rng = random.Random(SEED)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    (OUT / "anchor.txt").write_text(ANCHOR.isoformat() + "\n", encoding="utf-8")
    (OUT / "README.md").write_text(
        "Demo data: three fictitious Dutch SME administrations with debtors and open items, "
        "dated relative to anchor.txt (connector.demo.materialize shifts them to today).\n"
        "Generated by scripts/make_demo_data.py; do not edit by hand, rerun the script.\n",
        encoding="utf-8",
    )
    n_debtors = n_items = 0
    for company in COMPANIES:
        debtors = company.debtors(rng)
        items = make_items(rng, company, debtors)
        directory = OUT / company.slug
        directory.mkdir()
        (directory / "administration.toml").write_text(
            f"name = {toml_string(company.name)}\n"
            'currency = "EUR"\ntimezone = "Europe/Amsterdam"\ncountry = "NL"\n',
            encoding="utf-8",
        )
        (directory / "sender.toml").write_text(sender_toml(company.slug), encoding="utf-8")
        write_csv(directory / "debtors.csv", DEBTOR_COLUMNS, [d.row() for d in debtors])
        write_csv(directory / "items.csv", ITEM_COLUMNS, [it.row() for it in items])
        n_debtors += len(debtors)
        n_items += len(items)
        print(f"{company.slug}: {len(debtors)} debtors, {len(items)} items")
    print(f"total: {n_debtors} debtors, {n_items} items, anchor {ANCHOR} -> {OUT}")


if __name__ == "__main__":
    main()
