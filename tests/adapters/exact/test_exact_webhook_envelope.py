"""The Exact webhook envelope without a backtracking regex (issue 16.1).

`split_envelope` must cut exactly the bytes the old regex cut (so the HashCode is computed
over the same Content text), and a body over MAX_BODY is refused before any parsing.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.exact.webhooks import MAX_BODY
from adapters.exact.webhooks import WEBHOOKS
from adapters.exact.webhooks import signature
from adapters.exact.webhooks import split_envelope
from connector.errors import WebhookRejected

SECRET = "webhook-secret"  # noqa: S105 - a test value

# The envelope regex as it was before issue 16 (cubic on whitespace; fine on small bodies).
OLD_ENVELOPE = re.compile(
    rb'^\s*\{\s*"Content"\s*:\s*(.*)\s*,\s*"HashCode"\s*:\s*"([^"]*)"\s*\}\s*$', re.S
)


def old_split(body: bytes) -> tuple[bytes, bytes] | None:
    match = OLD_ENVELOPE.match(body)
    return None if match is None else (match.group(1).rstrip(), match.group(2))


TOKENS = st.sampled_from(
    [
        b" ",
        b"\t",
        b"\n",
        b"\r\n",
        b"\x0b",
        b"\x0c",
        b"{",
        b"}",
        b'"',
        b":",
        b",",
        b'"Content"',
        b'"HashCode"',
        b"ABC123",
        b'{"Key":"k"}',
        b"\\",
        b"\xc3\xa9",
        b"\x00",
    ]
)
PIECES = st.lists(TOKENS, max_size=12).map(b"".join)


def slot(valid: bytes, *others: bytes) -> st.SearchStrategy[bytes]:
    """Mostly the envelope's own token, sometimes a near miss."""
    return st.sampled_from([valid] * (2 * len(others) + 1) + list(others))


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """Near-envelopes: the envelope's tokens with whitespace and junk around and between."""
    ws = st.sampled_from([b"", b"", b" ", b"\n", b"\t \r\n", b"\x0b"])
    parts = [
        draw(ws),
        draw(slot(b"{", b"", b"[")),
        draw(ws),
        draw(slot(b'"Content"', b'"content"', b"Content", b"")),
        draw(ws),
        draw(slot(b":", b"", b"=")),
        draw(ws),
        draw(PIECES),
        draw(ws),
        draw(slot(b",", b"", b";")),
        draw(ws),
        draw(slot(b'"HashCode"', b'"Hashcode"', b"")),
        draw(ws),
        draw(slot(b":", b"")),
        draw(ws),
        draw(slot(b'"', b"")),
        draw(st.sampled_from([b"", b"AB12", b"A B", b"\n", b'"', b"}", b"\xff"])),
        draw(slot(b'"', b"")),
        draw(ws),
        draw(slot(b"}", b"", b"}}")),
        draw(ws),
        draw(st.sampled_from([b"", b"", b"", b',"HashCode":"CD"}', b"x"])),
    ]
    return b"".join(parts)


@settings(max_examples=600, deadline=None)
@given(body=st.one_of(envelopes(), PIECES))
def test_the_envelope_is_cut_exactly_as_the_old_regex_cut_it(body: bytes) -> None:
    assert split_envelope(body) == old_split(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"Content":{"Key":"k"},"HashCode":"AB"}',
        b' \n{ "Content" :\t{"Key":"k"} \r\n, "HashCode" : "AB" } \n',
        b'{"Content":{"Note":",\\"HashCode\\":\\"x\\"}"},"HashCode":"AB"}',
        b'{"Content":{"a":1},"HashCode":"X"},"HashCode":"AB"}',
        b'{"Content":,"HashCode":""}',
        b'{"Content":"HashCode":"AB"}',
        b'{"Content","HashCode":"AB"}',
        b'{"Content":{},"HashCode":"A"B"}',
    ],
)
def test_known_shapes_agree_with_the_old_regex(body: bytes) -> None:
    assert split_envelope(body) == old_split(body)


def test_content_with_whitespace_is_verified_over_the_raw_bytes() -> None:
    content = b'{ "Topic": "Accounts",\n  "Division": 101, "Key": "k" }'
    body = b'{"Content": ' + content + b' ,\n "HashCode": "' + signature(content, SECRET).encode()
    body += b'" }\n'
    assert WEBHOOKS.verify(body, {}, [SECRET], 0.0)[0].record_id == "k"


def test_a_body_over_the_cap_is_refused_before_anything_else() -> None:
    content = b'{"Topic":"Accounts","Division":1,"Key":"k","Pad":"' + b"x" * MAX_BODY + b'"}'
    body = b'{"Content":' + content + b',"HashCode":"' + signature(content, SECRET).encode()
    body += b'"}'
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(body, {}, [SECRET], 0.0)
    assert caught.value.status == 413
    # Just under the cap a signed delivery is still read.
    pad = MAX_BODY - (len(body) - MAX_BODY)
    content = content.replace(b"x" * MAX_BODY, b"x" * pad)
    body = b'{"Content":' + content + b',"HashCode":"' + signature(content, SECRET).encode()
    body += b'"}'
    assert len(body) == MAX_BODY
    assert WEBHOOKS.verify(body, {}, [SECRET], 0.0)[0].record_id == "k"
