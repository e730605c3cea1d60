"""`success up --demo` gives each demo region a digest recipient: an age key pair in the data
directory (private to its user, kept across runs), so the mail catcher holds digests that the
printed key opens."""

from __future__ import annotations

import stat

import pyrage
from pyrage import x25519

from events import Service
from services.common.settings import Settings
from services.common.supervisor import Stack
from services.demo import REGIONS, digest_recipients
from services.reporting.digest import encrypt, recipients_of


def private_key(path) -> x25519.Identity:
    [secret] = [line for line in path.read_text().splitlines() if line.startswith("AGE-")]
    return x25519.Identity.from_str(secret)


def test_each_demo_region_gets_a_recipient_whose_private_key_is_kept_private(data_dir):
    configured, keys = digest_recipients(data_dir)
    recipients = recipients_of(Settings(digest_recipients=configured))
    assert sorted(recipients) == sorted(REGIONS) == sorted(keys)
    for region, [recipient] in recipients.items():
        assert stat.S_IMODE(keys[region].stat().st_mode) == 0o600
        protected = encrypt(b"candidature;personne", [recipient.age])
        assert pyrage.decrypt(protected, [private_key(keys[region])]) == b"candidature;personne"
    assert stat.S_IMODE(keys["IDF"].parent.stat().st_mode) == 0o700
    # `success up --demo` again: the same keys, so earlier digests still open.
    assert digest_recipients(data_dir) == (configured, keys)


def test_the_demo_stack_sends_its_digests_to_those_recipients(data_dir, monkeypatch):
    monkeypatch.delenv("SUCCESS_DIGEST_RECIPIENTS", raising=False)
    stack = Stack(data_dir=data_dir, settings=Settings(), demo=True,
                  urls={Service.intake: "http://127.0.0.1:8101"})
    env = stack._service_env()
    assert env["SUCCESS_DIGEST_RECIPIENTS"] == digest_recipients(data_dir)[0]
    assert sorted(stack.digest_keys) == sorted(REGIONS)
    # Without --demo, or with recipients given, nothing is made up.
    plain = Stack(data_dir=data_dir, settings=Settings(),
                  urls={Service.intake: "http://127.0.0.1:8101"})
    assert "SUCCESS_DIGEST_RECIPIENTS" not in plain._service_env()
    monkeypatch.setenv("SUCCESS_DIGEST_RECIPIENTS", "{}")
    assert stack._service_env()["SUCCESS_DIGEST_RECIPIENTS"] == "{}"
