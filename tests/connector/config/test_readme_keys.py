"""Point 12.11: every key the code reads is documented in the README, and the README documents
no key the code does not read: the schema's keys against the README's key reference."""

from __future__ import annotations

import re
from pathlib import Path

from connector.config.keys import schema_keys

README = Path(__file__).resolve().parents[3] / "README.md"
ROW = re.compile(r"^\| (\(top level\)|`\[\[?([^\]]+)\]\]?`) \| `([a-z_]+)` \|")


def readme_keys() -> set[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Every key") :]
    section = section[: section.index("\n## ")]
    found: set[tuple[str, str]] = set()
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            found.add((match.group(2) or "", match.group(3)))
    return found


def test_every_key_the_schema_knows_is_documented_and_no_other():
    documented = readme_keys()
    known = schema_keys()
    assert len(documented) > 100  # the parser found the table
    assert sorted(known - documented) == [], "keys the README does not document"
    assert sorted(documented - known) == [], "keys the README documents that nothing reads"


def test_the_keys_the_issue_named_are_there():
    documented = readme_keys()
    for pair in [
        ("providers.mollie", "api_url"),
        ("channels.email", "host"),
        ("channels.email", "from_address"),
        ("channels.email", "bcc"),
        ("dunning", "mode"),
        ("policies.NAME.steps", "fallback"),
    ]:
        assert pair in documented
    assert "invoice_pdf" in README.read_text(encoding="utf-8")
