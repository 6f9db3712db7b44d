from __future__ import annotations

import json

from adapters.exact.webhooks import signature
from connector.cli import main

SECRET = "exact-webhook-secret"


def test_exact_callbacks_validation_signed_and_forged(edge, monkeypatch, capsys):
    client, tokens = edge
    monkeypatch.setenv("EXACT_SECRET", SECRET)
    main(["webhooks", "set-secret", "acme", "exact", "--from-env", "EXACT_SECRET"])
    url = f"/ledger-webhooks/{tokens['acme']}/exact"
    assert client.post(url, data=b"").status_code == 200  # Exact's validation call
    content = b'{"Topic":"Accounts","Division":12,"Key":"a1b2","Action":"Update"}'
    body = b'{"Content":' + content + b',"HashCode":"' + signature(content, SECRET).encode() + b'"}'
    ok = client.post(url, data=body)
    assert ok.status_code == 200 and json.loads(ok.data) == {"queued": 1}
    forged = body.replace(b"a1b2", b"zzzz")
    assert client.post(url, data=forged).status_code == 401
    assert client.post(f"/ledger-webhooks/{tokens['acme']}/files", data=b"").status_code == 404
    assert client.post(f"/ledger-webhooks/{tokens['other']}/exact", data=body).status_code == 401


def test_signed_hint_with_an_id_too_long_for_the_store_is_400_not_500(edge, monkeypatch):
    client, tokens = edge
    monkeypatch.setenv("EXACT_SECRET", SECRET)
    main(["webhooks", "set-secret", "acme", "exact", "--from-env", "EXACT_SECRET"])
    url = f"/ledger-webhooks/{tokens['acme']}/exact"
    key = "k" * 300  # record ids are at most 200 characters in the store
    content = b'{"Topic":"Accounts","Division":12,"Key":"' + key.encode() + b'","Action":"Update"}'
    body = b'{"Content":' + content + b',"HashCode":"' + signature(content, SECRET).encode() + b'"}'
    answer = client.post(url, data=body)
    assert answer.status_code == 400 and answer.json == {"error": "malformed body"}
