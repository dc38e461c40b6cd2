"""AES-GCM payload encryption (``FOLLOWTHROUGH_CODEC_KEY``).

Every payload the SDK writes (workflow inputs, activity arguments and results, update and
query arguments, timer and activity summaries) is serialized whole, metadata included, and
sealed with AES-256-GCM under a fresh 12-byte random nonce. The Temporal server, and anybody
reading a history without the key, sees ``binary/encrypted`` and ciphertext only.

Key format: the base64 (standard or URL-safe, padding optional) encoding of 32 random bytes::

    python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"

Rotation: the setting may list several keys separated by commas. The first one encrypts, all
of them decrypt. Each payload records the id of the key that sealed it (a fingerprint derived
from the key, never the key itself), so put the new key first, keep the old one until the
histories sealed with it have aged out of retention, then drop it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_HINT = (
    "FOLLOWTHROUGH_CODEC_KEY must be the base64 encoding of 32 random bytes (several keys may be "
    'given comma-separated, the first one encrypts); generate one with: python -c "import base64, os; '
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)


class CodecKeyError(ValueError):
    """The configured codec key is not usable; the message says how to make a good one."""


class CodecError(ValueError):
    """A payload could not be decrypted: unknown key id, or tampered/corrupt ciphertext."""


def parse_key(text: str) -> bytes:
    """Decode one key: standard or URL-safe base64 of exactly 32 bytes, padding optional."""
    raw = text.strip()
    if not raw:
        raise CodecKeyError(f"an empty key was given. {KEY_HINT}")
    padded = raw + "=" * (-len(raw) % 4)
    alphabet = "-_" if ("-" in raw or "_" in raw) else "+/"
    try:
        key = base64.b64decode(padded, altchars=alphabet.encode(), validate=True)
    except (binascii.Error, ValueError) as err:
        raise CodecKeyError(f"a key is not valid base64. {KEY_HINT}") from err
    if len(key) != KEY_BYTES:
        raise CodecKeyError(f"a key decodes to {len(key)} bytes, not {KEY_BYTES}. {KEY_HINT}")
    return key


def key_id(key: bytes) -> str:
    """A stable public name for a key: HMAC of a fixed label, so it reveals nothing of the key."""
    return hmac.new(key, b"followthrough codec key id", hashlib.sha256).hexdigest()[:16]


PLAINTEXT_REFUSED = b"binary/plaintext-refused"


class EncryptionCodec(PayloadCodec):
    """Seals payloads with the first key; opens payloads sealed with any known key.

    ``strict`` (the worker and the API's client): a payload that is not encrypted is not let
    through. It comes out under an encoding no converter knows, so the SDK refuses that one
    input (a signal is dropped, an update rejected) instead of running workflow code on a
    payload that anybody with access to Temporal could have written. Payloads written before
    encryption was switched on need ``FOLLOWTHROUGH_CODEC_ACCEPT_PLAINTEXT=true`` until they age out.
    """

    def __init__(self, keys: Sequence[bytes], *, strict: bool = False) -> None:
        if not keys:
            raise CodecKeyError(f"no key was given. {KEY_HINT}")
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}
        self.key_id = key_id(keys[0])
        self.strict = strict

    @classmethod
    def from_key(cls, setting: str, *, strict: bool = False) -> EncryptionCodec:
        """Build from the ``codec_key`` setting (one key, or comma-separated keys, newest first)."""
        return cls([parse_key(part) for part in setting.split(",")], strict=strict)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p, strict=self.strict) for p in payloads]

    async def decode_for_display(self, payloads: Sequence[Payload]) -> list[Payload]:
        """For the UI's codec endpoint: what is not encrypted is shown as it is."""
        return [self.decrypt(p, strict=False) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.key_id.encode()
        # The key id is authenticated data: swapping it on a stored payload fails decryption.
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload, *, strict: bool = False) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if strict:
                return Payload(metadata={"encoding": PLAINTEXT_REFUSED}, data=b"")
            return payload  # written before encryption was switched on
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            # No key ids in the message: it may reach whoever sent the payload.
            raise CodecError("payload sealed with a key this server does not hold")
        if len(payload.data) < NONCE_BYTES + 16:  # nonce + GCM tag
            raise CodecError("payload is too short to be ciphertext")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, kid.encode())
            return Payload.FromString(plain)
        except (InvalidTag, ValueError, DecodeError) as err:
            raise CodecError("payload failed authentication (corrupt or tampered)") from err
