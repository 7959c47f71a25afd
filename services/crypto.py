"""Secrets at rest: Fernet encryption keyed by the ENCRYPTION_KEY setting."""

from __future__ import annotations

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from flask import current_app


class DecryptionError(RuntimeError):
    """A stored secret cannot be read with the configured keys."""


def _fernet() -> MultiFernet:
    keys = current_app.config["ENCRYPTION_KEYS"]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        # Never include the token: it is the secret in another form.
        raise DecryptionError("stored secret cannot be decrypted; was ENCRYPTION_KEY changed?") \
            from exc
