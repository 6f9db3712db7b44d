"""Opaque ids in URLs: a sequential key is never shown, and a guessed token names nothing.

A token is one AES block (kind byte, seven zero bytes, the 64-bit key) encrypted under a key
derived from the workspace secret, in base64url: 22 characters. It is a keyed permutation, so
decoding needs no table; a token of another kind, or a forged one, decodes to None (a 404).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes

KINDS = {"administration": 1, "debtor": 2, "letter": 3, "pause": 4}


class OpaqueIds:
    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"workspace opaque ids", hashlib.sha256).digest()[:16]
        # ECB over exactly one block is a keyed permutation of 128-bit values, which is what an
        # opaque id is; nothing longer than one block is ever encrypted here.
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305

    def encode(self, kind: str, key: int) -> str:
        block = bytes([KINDS[kind]]) + bytes(7) + key.to_bytes(8, "big")
        encryptor = self._cipher.encryptor()
        raw = encryptor.update(block) + encryptor.finalize()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, kind: str, token: str) -> int | None:
        if len(token) != 22:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "==")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 16:
            return None
        decryptor = self._cipher.decryptor()
        block = decryptor.update(raw) + decryptor.finalize()
        if block[0] != KINDS[kind] or block[1:8] != bytes(7):
            return None
        return int.from_bytes(block[8:], "big")
