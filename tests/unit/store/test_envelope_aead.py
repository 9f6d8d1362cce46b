"""The AES-256-GCM of the org credentials' envelope (``cryptography``'s AESGCM behind ``aead_seal``/``aead_open``):
the GCM specification's test vector, any changed input refused, sizes other than the envelope's refused."""

import os

import pytest

from regiongate.store.provider_credentials import SecretDoesNotOpen, aead_open, aead_seal

# The GCM specification (McGrew and Viega), test case 16: AES-256, 96-bit IV, 20 bytes of associated data.
KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
IV = bytes.fromhex("cafebabefacedbaddecaf888")
PLAINTEXT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
CIPHERTEXT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_specification_vector():
    assert aead_seal(KEY, IV, PLAINTEXT, AAD) == CIPHERTEXT + TAG
    assert aead_open(KEY, IV, CIPHERTEXT + TAG, AAD) == PLAINTEXT


@pytest.mark.parametrize("change", ["key", "nonce", "aad", "ciphertext", "tag"])
def test_any_change_fails(change):
    key, nonce, aad = os.urandom(32), os.urandom(12), b'{"org":"acme"}'
    sealed = aead_seal(key, nonce, b"sk-secret-value", aad)
    assert aead_open(key, nonce, sealed, aad) == b"sk-secret-value"
    flip = lambda b, i=0: b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]  # noqa: E731
    args = {"key": key, "nonce": nonce, "sealed": sealed, "aad": aad}
    if change == "ciphertext":
        args["sealed"] = flip(sealed)
    elif change == "tag":
        args["sealed"] = flip(sealed, len(sealed) - 1)
    elif change == "aad":
        args["aad"] = b'{"org":"acmf"}'
    else:
        args[change] = flip(args[change])
    with pytest.raises(SecretDoesNotOpen, match="does not decrypt"):
        aead_open(args["key"], args["nonce"], args["sealed"], args["aad"])


def test_wrong_sizes_are_refused():
    with pytest.raises(ValueError, match="32-byte key"):
        aead_seal(b"short", bytes(12), b"x", b"")
    with pytest.raises(ValueError, match="32-byte key"):
        aead_seal(bytes(16), bytes(12), b"x", b"")  # AES-128 is not the envelope's
    with pytest.raises(ValueError, match="12-byte nonces"):
        aead_seal(bytes(32), bytes(8), b"x", b"")
    with pytest.raises(SecretDoesNotOpen, match="does not decrypt"):
        aead_open(bytes(32), bytes(12), b"short", b"")
