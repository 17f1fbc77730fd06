"""Secrets renderbot must keep and use again (a creator's storage secret): encrypted at
rest with Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package) under a
key derived from ``RENDERBOT_SECRET_KEY`` with HKDF-SHA256.

The derived key is for this purpose only (HKDF ``info``), so a leaked ciphertext key
never signs a download link and vice versa. Key rotation: put the old secret key in
``RENDERBOT_STORAGE__PREVIOUS_SECRET_KEYS`` (a JSON list), set the new
``RENDERBOT_SECRET_KEY``, run ``renderbot storage rotate`` (re-encrypts every stored
secret under the new key), then drop the old key from the list. Until then, secrets
written under any listed key still decrypt.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import RenderbotError

INFO = b"renderbot storage destination secret v1"


class SecretUnreadable(RenderbotError):
    """A ciphertext no configured key opens (the secret key changed without rotation)."""

    code = "secret_unreadable"
    http_status = 500


def derive_key(secret: bytes) -> bytes:
    """The Fernet key (url-safe base64 of 32 bytes) derived from the instance secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret)
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Encrypts with the current key; decrypts with the current or a previous one."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()) -> None:
        if not current:
            raise ValueError("SecretBox needs a non-empty secret key")
        keys = [current, *(p for p in previous if p and p != current)]
        self._fernet = MultiFernet([Fernet(derive_key(k)) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with RENDERBOT_SECRET_KEY (or "
                "RENDERBOT_STORAGE__PREVIOUS_SECRET_KEYS)"
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the current key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise SecretUnreadable("a stored secret cannot be decrypted for rotation") from None


def box_for(settings) -> SecretBox:
    """The box of a :class:`core.settings.Settings`."""
    previous = [k.get_secret_value().encode() for k in settings.storage.previous_secret_keys]
    return SecretBox(settings.secret_bytes(), previous)
