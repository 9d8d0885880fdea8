"""Webhook pieces on their own: signatures checked by the `standardwebhooks` package (not our code), the SSRF guard
attacked with the spellings an attacker uses, the retry schedule's settings and jitter."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.webhooks import signing, ssrf
from api.webhooks.settings import (
    DEFAULT_RETRY_DELAYS,
    ENV_RETRY_DELAYS,
    WebhookSettingsError,
    parse_delays,
    retry_delays,
)
from api.webhooks.tasks.delivery import next_delay
from store.webhooks import new_secret


# -- signatures --------------------------------------------------------------------------------------------------------
def test_our_signature_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    body = json.dumps({"type": "run.completed", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "run_1"}}).encode()
    now = int(time.time())
    headers = signing.headers(secret, "msg_abc", now, body)
    verified = Webhook(secret).verify(body, headers)
    assert verified["data"] == {"id": "run_1"}
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-timestamp"] == str(now)
    assert headers["webhook-signature"].startswith("v1,")


def test_secret_is_whsec_with_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h | {"webhook-id": "msg_other"}, b),  # another message's id
        lambda h, b: (h | {"webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),  # shifted timestamp
        lambda h, b: (h, b.replace(b"COMPLETED", b"FAILED")),  # changed body
        lambda h, b: (h | {"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, b),  # forged
    ],
    ids=["id", "timestamp", "body", "forged"],
)
def test_any_change_breaks_the_signature(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    body = b'{"type":"run.completed","data":{"status":"COMPLETED"}}'
    headers, body2 = tamper(signing.headers(secret, "msg_1", int(time.time()), body), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body2, headers)


def test_another_endpoints_secret_does_not_verify() -> None:
    body = b"{}"
    headers = signing.headers(new_secret(), "msg_1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_an_old_timestamp_is_refused_by_receivers_replay_protection() -> None:
    secret = new_secret()
    body = b"{}"
    headers = signing.headers(secret, "msg_1", int(time.time()) - 3600, body)  # a captured request replayed an hour on
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize("bad", ["", "abc", "whsec_", "whsec_!!!not-base64!!!", "sk_live_abc"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(signing.WebhookSecretError):
        signing.sign(bad, "msg_1", 1, b"{}")


# -- SSRF guard --------------------------------------------------------------------------------------------------------
REFUSED_HOSTS = [
    "http://127.0.0.1/hook",
    "http://localhost:8030/hook",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",  # hex
    "http://0177.0.0.1/",  # octal
    "http://127.1/",  # short form
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 wrapping the metadata address
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS IPv6 metadata
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
]


@pytest.mark.parametrize("url", REFUSED_HOSTS)
def test_internal_addresses_are_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ssrf.ALLOW_PRIVATE_ENV, raising=False)
    with pytest.raises(ssrf.UnsafeWebhookURLError, match="resolves to"):
        ssrf.check_url(url)


def test_a_name_resolving_to_one_private_address_among_public_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every address counts: a host with one public and one internal A record would let a connection land inside."""
    monkeypatch.delenv(ssrf.ALLOW_PRIVATE_ENV, raising=False)

    def fake_getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ssrf.UnsafeWebhookURLError, match="private"):
        ssrf.check_url("https://hooks.example.com/x")


def test_a_public_address_passes_and_is_the_one_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ssrf.ALLOW_PRIVATE_ENV, raising=False)
    monkeypatch.setattr(
        ssrf.socket, "getaddrinfo", lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
    )
    checked = ssrf.check_url("https://hooks.example.com:8443/x?y=1")
    assert checked.addresses == ("93.184.216.34",) and checked.port == 8443 and checked.host == "hooks.example.com"


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("http://user:pass@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://example.com/\r\nX-Injected: 1", "control characters"),
        ("http://exa mple.com/", "control characters"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("x" * 3000, "at most"),
        ("", "required"),
        ("http://does-not-exist.invalid/", "does not resolve"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ssrf.UnsafeWebhookURLError, match=message):
        ssrf.check_url(url)


def test_allow_private_opens_loopback_but_never_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ssrf.ALLOW_PRIVATE_ENV, "1")
    assert ssrf.check_url("http://127.0.0.1:9/x").addresses == ("127.0.0.1",)
    assert ssrf.check_url("http://10.0.0.1/x").addresses == ("10.0.0.1",)
    for url in ("http://169.254.169.254/", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0/"):
        with pytest.raises(ssrf.UnsafeWebhookURLError):
            ssrf.check_url(url)


# -- retry schedule ----------------------------------------------------------------------------------------------------
def test_default_schedule_comes_from_trigger_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_RETRY_DELAYS, raising=False)
    delays = retry_delays()
    assert delays[0] == 5 and delays[-1] == 86400 and len(delays) == 9
    assert tuple(delays) == DEFAULT_RETRY_DELAYS


def test_environment_overrides_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RETRY_DELAYS, " 1, 2.5 ,60")
    assert retry_delays() == (1.0, 2.5, 60.0)


@pytest.mark.parametrize("text, message", [("1,x", "item 2 is not a number"), ("-1", "between 0"), ("nan", "between 0"),
                                           ("1e9", "between 0"), (",".join(["1"] * 100), "at most 99")])
def test_bad_schedules_name_the_variable_and_item(text: str, message: str) -> None:
    with pytest.raises(WebhookSettingsError, match=f"{ENV_RETRY_DELAYS}: .*{message}"):
        parse_delays(text)


def test_jitter_stays_within_20_percent_is_stable_and_honours_retry_after() -> None:
    payload = {"message_id": "msg_1", "retry_delays": [100.0, 100.0]}
    first = next_delay(payload, 1)
    assert first is not None and 80 <= first <= 120
    assert next_delay(payload, 1) == first  # a replayed delivery waits the same
    assert next_delay({**payload, "message_id": "msg_2"}, 1) != first  # receivers are not hit in lockstep
    assert next_delay(payload, 3) is None  # spent: two delays, three attempts
    assert next_delay(payload, 1, retry_after=1000) == 1000
    assert next_delay(payload, 1, retry_after=10**9) == 86400  # capped at a day
