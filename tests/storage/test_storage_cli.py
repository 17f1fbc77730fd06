"""`renderbot storage set|show|clear|rotate` through the real entry point (issue 16), and
the secret box: HKDF-derived Fernet key, rotation of RENDERBOT_SECRET_KEY."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.secret_box import SecretBox, SecretUnreadable
from tests.cli.test_cli import Cli
from tests.fixtures.creator_r2 import strict_r2  # noqa: F401 - a fixture

LOOPBACK = '["127.0.0.0/8"]'


def stored_ciphertexts(tmp_path) -> list[str]:
    with sqlite3.connect(tmp_path / "var" / "renderbot.db") as conn:
        return [r[0] for r in conn.execute("SELECT secret_ciphertext FROM storage_destination")]


def test_set_show_clear_and_rotate(tmp_path, strict_r2):  # noqa: F811
    cli = Cli(tmp_path, {"RENDERBOT_SECRET_KEY": "first-secret-key-0123456789",
                         "RENDERBOT_NETWORK__ALLOWED_NETWORKS": LOOPBACK})
    account = cli.json("accounts", "create", "studio")["id"]
    secret_file = tmp_path / "secret"
    secret_file.write_text(strict_r2.secret_access_key + "\n")
    bucket = strict_r2.bucket()
    base = ["storage", "set", account, "--endpoint", strict_r2.endpoint_url, "--bucket", bucket,
            "--access-key-id", strict_r2.access_key_id, "--prefix", "clips"]

    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    line = cli.refused(*base, "--secret-access-key-file", str(wrong),
                       says="the secret access key does not match the access key id")
    assert "not-the-secret" not in line
    assert "default storage" in cli("storage", "show", account).stdout

    shown = cli.json(*base, "--secret-access-key-file", str(secret_file))
    assert shown["bucket"] == bucket and shown["prefix"] == "clips"
    assert json.dumps(shown).find(strict_r2.secret_access_key) == -1
    out = cli("storage", "show", account).stdout
    assert f"bucket {bucket}/clips" in out and strict_r2.secret_access_key not in out
    (before,) = stored_ciphertexts(tmp_path)
    assert strict_r2.secret_access_key not in before

    # a new secret key, the old one listed: rotate re-encrypts under the new key
    rotated = Cli(tmp_path, {"RENDERBOT_SECRET_KEY": "second-secret-key-0123456789",
                             "RENDERBOT_STORAGE__PREVIOUS_SECRET_KEYS":
                                 '["first-secret-key-0123456789"]'})
    assert "1 stored secret(s) re-encrypted" in rotated("storage", "rotate").stdout
    (after,) = stored_ciphertexts(tmp_path)
    assert after != before
    assert SecretBox(b"second-secret-key-0123456789").decrypt(after) == strict_r2.secret_access_key

    assert "default storage from now on" in cli("storage", "clear", account).stdout
    cli.refused("storage", "clear", account, says="not found")


def test_secret_box_keys_and_rotation():
    old, new = SecretBox(b"old-key"), SecretBox(b"new-key", previous=[b"old-key"])
    token = old.encrypt("s3cr3t")
    assert "s3cr3t" not in token
    assert new.decrypt(token) == "s3cr3t"  # a previous key still opens it
    moved = new.rotate(token)
    assert SecretBox(b"new-key").decrypt(moved) == "s3cr3t"
    with pytest.raises(SecretUnreadable):
        SecretBox(b"new-key").decrypt(token)  # without the old key: unreadable
    with pytest.raises(SecretUnreadable):
        SecretBox(b"other").decrypt(moved)
