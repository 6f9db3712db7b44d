"""Names in the configuration that must match the store: `[administrations.REF]` and the
`administrations` of a segment rule. Checked where the store is known (`connector check`,
the dunning commands), since the file alone cannot tell `acmee` from a real administration.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from connector.config.base import suggestion
from connector.config.validate import path_text
from connector.store.records import AdministrationRecord


def unknown_administrations(
    document: Mapping[str, Any], admins: Iterable[AdministrationRecord], where: str
) -> list[str]:
    """One line per administration reference that names no administration in the store (by
    id, ledger id or name, as `DunningConfig.for_administration` looks them up)."""
    listed = list(admins)
    if not listed:
        return []  # nothing synced yet: the references cannot be judged, nothing can be dunned
    known = {ref for a in listed for ref in (str(a.id), a.external_id, a.name)}
    names = sorted({a.name for a in listed})
    problems: list[str] = []

    def judge(ref: Any, at: str) -> None:
        if str(ref) not in known:
            problems.append(
                f"{where}: {at}: no administration {str(ref)!r} in the store (by id, ledger id "
                f"or name; known: {', '.join(names)}){suggestion(str(ref), known)}"
            )

    administrations = document.get("administrations")
    if isinstance(administrations, Mapping):
        for ref in administrations:
            judge(ref, path_text(("administrations", ref)))
    dunning = document.get("dunning")
    segments = dunning.get("segments") if isinstance(dunning, Mapping) else None
    for index, rule in enumerate(segments if isinstance(segments, list) else []):
        refs = rule.get("administrations") if isinstance(rule, Mapping) else None
        for position, ref in enumerate(refs if isinstance(refs, list) else []):
            judge(ref, path_text(("dunning", "segments", index, "administrations", position)))
    return problems
