"""The files ledger: debtors and open items from CSV/XLSX exports in a directory.

Layout: when `path` itself holds an items file it is one administration named after the
directory; otherwise every subdirectory holding an items file is one (sorted by name).
Each administration directory has an items file, optionally a debtors file and an
`administration.toml` (name, currency, timezone, country).

The files are a complete snapshot, so every feed is complete; its cursor is a fingerprint of
the files' bytes. A file with any problem rejects the whole administration: the first call
that reads it raises `InputRejected` listing every problem, and nothing is synced. Files
cannot take write-backs, so payments and disputes raise `NotSupported`.

Memory. An items export can be large (a 50 MB CSV holds over half a million rows), so its
items are never all held at once: the file is checked whole first (every problem found,
nothing kept but the count, the debtor names and how the file writes its amounts), and the
items feed then reads it again, part by part, as its pages are taken, after checking that
the bytes are still the ones checked. An items file of up to `KEEP_BYTES` (and any XLSX
workbook, which openpyxl reads whole anyway) is kept parsed instead, as is the debtors file:
reading twice would only cost time there.
"""

from __future__ import annotations

import hashlib
import itertools
import tomllib
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from adapters.files import auth
from adapters.files import client
from adapters.files import mapping
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import is_currency_code
from connector.errors import ConfigError
from connector.errors import InputRejected
from connector.errors import NotFound
from connector.errors import NotSupported
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import Page
from connector.ports import PaymentReceipt

if TYPE_CHECKING:
    from hashlib import _Hash

    from connector.ports import Ledger

T = TypeVar("T")

PAGE_SIZE = 1000
_PART_ROWS = 20_000  # rows parsed at a time when the items are read again
KEEP_BYTES = 8_000_000  # an items CSV up to this size is kept parsed (about 100,000 rows)
_ADMINISTRATION_KEYS = ("name", "currency", "timezone", "country", "encoding")

# (file name, size, mtime_ns) of each file read, in a fixed order
_FileKey = tuple[tuple[str, int, int], ...]


@dataclass
class _Snapshot:
    """One administration's files, checked; kept while the files do not change.

    The items themselves are not kept (see the module's note on memory): `items_file` is
    read again for each feed, and must still have the digest `items_digest`.
    """

    key: tuple[str, _FileKey]
    fingerprint: str
    debtors: tuple[Debtor, ...] = ()
    message: str = ""
    problems: tuple[str, ...] = ()
    items_file: Path | None = None
    items_label: str = ""
    items_digest: str = ""
    items_count: int = 0
    encoding: str = client.DEFAULT_ENCODING
    currency: str = "EUR"
    debtor_codes: frozenset[str] | None = None
    debtors_label: str = ""
    amounts: mapping.AmountReader = field(default_factory=mapping.AmountReader)
    open_items: tuple[OpenItem, ...] | None = None  # kept: the file is small

    def check(self) -> None:
        if self.problems:
            raise InputRejected(self.message, self.problems)


class FilesLedger:
    """A `connector.ports.Ledger` over exported CSV/XLSX files."""

    name = "files"
    # Reading the files again is a targeted read; files cannot take payments or dispute flags.
    capabilities = Capabilities(targeted_read=True)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cache: dict[Path, _Snapshot] = {}

    # -- administrations -------------------------------------------------------------------

    def administrations(self) -> Sequence[Administration]:
        auth.check_directory(self.path)
        return [
            self._administration(directory, external_id)
            for external_id, directory in self._directories()
        ]

    def _own_name(self) -> str:
        resolved = self.path.resolve()
        return resolved.name or str(resolved)

    def _directories(self) -> list[tuple[str, Path]]:
        if client.has_items_file(self.path):
            return [(self._own_name(), self.path)]
        try:
            subdirectories = sorted(
                (entry for entry in self.path.iterdir() if entry.is_dir()),
                key=lambda entry: entry.name,
            )
        except OSError as exc:
            msg = f"files ledger: cannot list {self.path}: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        return [
            (entry.name, entry)
            for entry in subdirectories
            if not entry.name.startswith(".") and client.has_items_file(entry)
        ]

    def _directory(self, external_id: str) -> Path:
        if client.has_items_file(self.path):
            if external_id == self._own_name():
                return self.path
        elif (
            external_id not in ("", ".", "..")
            and "/" not in external_id
            and "\\" not in external_id
            and not external_id.startswith(".")
        ):
            directory = self.path / external_id
            if directory.is_dir() and client.has_items_file(directory):
                return directory
        msg = f"files ledger: no administration {external_id!r} with an items file in {self.path}"
        raise NotFound(msg)

    def _label(self, path: Path) -> str:
        """`path` as shown in problems: relative to the ledger's directory."""
        try:
            return path.relative_to(self.path).as_posix()
        except ValueError:
            return path.as_posix()

    def _settings(self, directory: Path) -> tuple[dict[str, Any], str]:
        """The administration.toml of `directory` ({} without one) and its label."""
        settings_file = directory / client.ADMINISTRATION_FILE
        where = self._label(settings_file)
        if not settings_file.is_file():
            return {}, where
        try:
            return tomllib.loads(settings_file.read_text(encoding="utf-8")), where
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            msg = f"{where}: cannot read it: {exc}"
            raise ConfigError(msg) from exc

    def _administration(self, directory: Path, external_id: str) -> Administration:
        settings, where = self._settings(directory)
        if not settings:
            return Administration(external_id=external_id, name=external_id)
        return _administration_from(settings, external_id, where)

    def _encoding(self, directory: Path) -> str:
        """The CSV encoding of the administration (`encoding` in administration.toml)."""
        settings, where = self._settings(directory)
        return _encoding_from(settings, where)

    # -- feeds -----------------------------------------------------------------------------

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        # The files are a snapshot: the cursor does not change what is listed.
        snapshot = self._snapshot(administration)
        return _feed(snapshot.debtors, snapshot.fingerprint)

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        snapshot = self._snapshot(administration)
        pages = self._item_pages(administration, snapshot)
        return Feed(pages=pages, complete=True, total=snapshot.items_count)

    def read_items(
        self, administration: Administration, external_ids: Sequence[str]
    ) -> Sequence[OpenItem]:
        wanted = dict.fromkeys(external_ids)
        found: dict[str, OpenItem] = {}
        for page in self._item_pages(administration, self._snapshot(administration)):
            found.update((i.external_id, i) for i in page.records if i.external_id in wanted)
        return [found[key] for key in wanted if key in found]

    def _item_pages(
        self, administration: Administration, snapshot: _Snapshot
    ) -> Iterator[Page[OpenItem]]:
        """The items of the checked file, read again part by part (pages of `PAGE_SIZE`)."""
        if snapshot.open_items is not None:
            yield from _pages(snapshot.open_items, snapshot.fingerprint)
            return
        if snapshot.items_file is None:
            yield Page(records=(), cursor=snapshot.fingerprint)
            return
        digest = hashlib.sha256()
        problems = mapping.Problems()
        table = self._table([snapshot.items_file], "items", problems, digest, snapshot.encoding)
        if table is None or digest.hexdigest() != snapshot.items_digest:
            msg = (
                f"{administration.external_id}: {snapshot.items_label} changed while it was "
                "read; nothing was changed, sync again"
            )
            raise InputRejected(msg, problems.lines())
        pending: list[OpenItem] = []
        try:
            while True:
                part = list(itertools.islice(table.rows, _PART_ROWS))
                if not part:
                    break
                parsed = mapping.parse_items(
                    client.Table(table.header, table.header_line, iter(part)),
                    snapshot.items_label,
                    problems,
                    currency=snapshot.currency,
                    debtor_codes=snapshot.debtor_codes,
                    debtors_file=snapshot.debtors_label,
                    amounts=snapshot.amounts,
                )
                if problems:  # the same bytes were checked: only a bug gets here
                    msg = f"{administration.external_id}: the items read differently twice"
                    raise InputRejected(msg, problems.lines())
                pending.extend(parsed.open_items)
                while len(pending) >= PAGE_SIZE:
                    yield Page(records=tuple(pending[:PAGE_SIZE]))
                    del pending[:PAGE_SIZE]
        except client.UnreadableFile as exc:
            msg = f"{administration.external_id}: {snapshot.items_label} changed while it was read"
            raise InputRejected(msg, (exc.message,)) from None
        finally:
            close = getattr(table.rows, "close", None)
            if close is not None:
                close()
        yield Page(records=tuple(pending), cursor=snapshot.fingerprint)

    # -- write-backs: not possible ---------------------------------------------------------

    def record_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        paid_on: date,
        idempotency_key: str,
    ) -> PaymentReceipt:
        msg = (
            "the files ledger cannot record payments; record it in your bookkeeping package "
            "and re-export"
        )
        raise NotSupported(msg)

    def reverse_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        idempotency_key: str,
    ) -> PaymentReceipt:
        msg = (
            "the files ledger cannot reverse payments; reverse it in your bookkeeping package "
            "and re-export"
        )
        raise NotSupported(msg)

    def flag_dispute(
        self, administration: Administration, item: OpenItem, reason: str, idempotency_key: str
    ) -> None:
        msg = (
            "the files ledger cannot flag disputes; note it in your bookkeeping package "
            "and re-export"
        )
        raise NotSupported(msg)

    def clear_dispute(
        self, administration: Administration, item: OpenItem, idempotency_key: str
    ) -> None:
        msg = (
            "the files ledger cannot clear disputes; note it in your bookkeeping package "
            "and re-export"
        )
        raise NotSupported(msg)

    # -- reading and caching ---------------------------------------------------------------

    def _snapshot(self, administration: Administration) -> _Snapshot:
        directory = self._directory(administration.external_id)
        items_files = client.find_files(directory, client.ITEMS_STEMS)
        debtors_files = client.find_files(directory, client.DEBTORS_STEMS)
        encoding = self._encoding(directory)
        key = (f"{administration.currency}/{encoding}", _file_key([*items_files, *debtors_files]))
        # (the key changes when a file is replaced or touched; the items feed also checks
        # the items file's digest before it reads it again)
        cached = self._cache.get(directory)
        if cached is None or cached.key != key:
            cached = self._parse(administration, items_files, debtors_files, key, encoding)
            self._cache[directory] = cached
        cached.check()
        return cached

    def _parse(
        self,
        administration: Administration,
        items_files: list[Path],
        debtors_files: list[Path],
        key: tuple[str, _FileKey],
        encoding: str,
    ) -> _Snapshot:
        problems = mapping.Problems()
        debtors_digest, items_digest = hashlib.sha256(), hashlib.sha256()
        debtors: mapping.ParsedDebtors | None = None
        debtors_label = ""
        if debtors_files:
            debtors_label = self._label(debtors_files[0])
            table = self._table(debtors_files, "debtors", problems, debtors_digest, encoding)
            debtors = mapping.ParsedDebtors()
            if table is not None:
                try:
                    debtors = mapping.parse_debtors(table, debtors_label, problems)
                except client.UnreadableFile as exc:
                    problems.add(debtors_label, exc.line, mapping.FILE_COLUMN, exc.message)

        parsed = mapping.ParsedItems()
        items_label = self._label(items_files[0])
        keep = _small(items_files[0])
        table = self._table(items_files, "items", problems, items_digest, encoding)
        if table is not None:
            try:
                # Checked whole; unless small, nothing kept: the feed reads it again in parts.
                parsed = mapping.parse_items(
                    table,
                    items_label,
                    problems,
                    currency=administration.currency,
                    # without a readable list of codes there is nothing to check against
                    debtor_codes=None if debtors is None else debtors.codes,
                    debtors_file=debtors_label,
                    keep=keep,
                )
            except client.UnreadableFile as exc:
                problems.add(items_label, exc.line, mapping.FILE_COLUMN, exc.message)
        records = (
            mapping.derived_debtors(parsed.debtor_names) if debtors is None else debtors.debtors
        )

        both = hashlib.sha256(debtors_digest.digest() + items_digest.digest())
        fingerprint = f"sha256:{both.hexdigest()}"
        if problems:
            count = len(problems)
            noun = "problem" if count == 1 else "problems"
            message = (
                f"{administration.external_id}: {count} {noun} in the files; nothing was changed"
            )
            return _Snapshot(key, fingerprint, message=message, problems=problems.lines())
        codes = None if debtors is None or debtors.codes is None else frozenset(debtors.codes)
        return _Snapshot(
            key,
            fingerprint,
            tuple(records),
            items_file=items_files[0],
            items_label=items_label,
            items_digest=items_digest.hexdigest(),
            items_count=parsed.opened,
            encoding=encoding,
            currency=administration.currency,
            debtor_codes=codes,
            debtors_label=debtors_label,
            amounts=parsed.amounts,
            open_items=tuple(parsed.open_items) if keep else None,
        )

    def _table(
        self,
        files: list[Path],
        kind: str,
        problems: mapping.Problems,
        digest: _Hash,
        encoding: str,
    ) -> client.Table | None:
        path = files[0]
        label = self._label(path)
        if len(files) > 1:
            names = " and ".join(f.name for f in files)
            problems.add(
                label, 1, mapping.FILE_COLUMN, f"more than one {kind} file ({names}); keep one"
            )
            return None
        try:
            digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
            if path.suffix.lower() == ".xlsx":
                data = path.read_bytes()
                digest.update(data)
                return client.read_table(path, data)
            # CSV is streamed: never the whole file in memory, however large the export.
            return client.open_csv(path, encoding, digest)
        except OSError as exc:
            problems.add(label, 1, mapping.FILE_COLUMN, f"cannot read it: {exc.strerror or exc}")
            return None
        except client.UnreadableFile as exc:
            problems.add(label, exc.line, mapping.FILE_COLUMN, exc.message)
            return None


def _small(path: Path) -> bool:
    """Whether the items file is kept parsed rather than read again for each feed."""
    if path.suffix.lower() == ".xlsx":
        return True
    try:
        return path.stat().st_size <= KEEP_BYTES
    except OSError:
        return True  # the read reports it


def _file_key(paths: Sequence[Path]) -> _FileKey:
    key = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            key.append((str(path), -1, -1))
        else:
            key.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(key)


def _feed(records: Sequence[T], cursor: str) -> Feed[T]:
    return Feed(pages=_pages(records, cursor), complete=True, total=len(records))


def _pages(records: Sequence[T], cursor: str) -> Iterator[Page[T]]:
    if not records:
        yield Page(records=(), cursor=cursor)
        return
    for start in range(0, len(records), PAGE_SIZE):
        end = start + PAGE_SIZE
        last = end >= len(records)
        yield Page(records=records[start:end], cursor=cursor if last else None)


def _encoding_from(settings: dict[str, Any], where: str) -> str:
    value = settings.get("encoding", client.DEFAULT_ENCODING)
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        return client.check_encoding(value.strip())
    except (LookupError, TypeError):
        msg = f'{where}: encoding: not an encoding: {value!r} (such as "utf-8" or "cp1252")'
        raise ConfigError(msg) from None


def _administration_from(settings: dict[str, Any], external_id: str, where: str) -> Administration:
    _encoding_from(settings, where)
    unknown = sorted(set(settings) - set(_ADMINISTRATION_KEYS))
    if unknown:
        msg = f"{where}: unknown key {unknown[0]!r} (expected {', '.join(_ADMINISTRATION_KEYS)})"
        raise ConfigError(msg)
    for key, value in settings.items():
        if not isinstance(value, str) or not value.strip():
            msg = f"{where}: {key}: expected a non-empty string, got {value!r}"
            raise ConfigError(msg)
    name = settings.get("name", external_id).strip()
    currency = settings.get("currency", "EUR").strip().upper()
    if not is_currency_code(currency):
        msg = f"{where}: currency: not a 3-letter currency code: {settings['currency']!r}"
        raise ConfigError(msg)
    timezone = settings.get("timezone", "Europe/Amsterdam").strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"{where}: timezone: unknown time zone {timezone!r} (such as Europe/Amsterdam)"
        raise ConfigError(msg) from exc
    country = settings.get("country", "NL").strip().upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        msg = f"{where}: country: not a 2-letter country code: {settings['country']!r}"
        raise ConfigError(msg)
    return Administration(
        external_id=external_id, name=name, currency=currency, timezone=timezone, country=country
    )


if TYPE_CHECKING:

    def _implements_the_port(ledger: FilesLedger) -> Ledger:
        return ledger  # mypy checks FilesLedger against the Ledger protocol here
