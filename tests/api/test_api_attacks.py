"""The API attacked as an attacker would: forged, tampered, expired and `alg: none` tokens, key guessing and timing,
header injection, huge and deep bodies, hostile numbers and text, path traversal in ids."""

from __future__ import annotations

import base64
import json
import socket
import statistics
import time
from typing import Any

import httpx
import jwt
import pytest

from api.auth import tokens
from store import api_keys
from tests.api.conftest import Api
from tests.api.test_api_errors import error_of


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _run_and_token(client: httpx.Client) -> tuple[str, str]:
    body = client.post("/api/v1/tasks/api-echo/trigger", json={}).json()
    return body["id"], body["publicAccessToken"]


def test_token_signed_with_another_secret_is_refused(api: Api, client: httpx.Client) -> None:
    run_id, genuine = _run_and_token(client)
    forged = jwt.encode(_claims(genuine), "guessed-secret-of-the-right-length-32+", algorithm="HS256")
    with api.client(forged) as attacker:
        assert error_of(attacker.get(f"/api/v1/runs/{run_id}"), 401)["code"] == "invalid_token"


def test_alg_none_token_is_refused(api: Api, client: httpx.Client) -> None:
    run_id, genuine = _run_and_token(client)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(genuine))}."
    with api.client(unsigned) as attacker:
        assert error_of(attacker.get(f"/api/v1/runs/{run_id}"), 401)["code"] == "invalid_token"
    with api.client(unsigned) as attacker:  # and through ?token= on the realtime stream
        response = attacker.get(f"/realtime/v1/runs/{run_id}", headers={"Authorization": ""}, params={"token": unsigned})
        assert response.status_code == 401


def test_tampered_scope_breaks_the_signature(api: Api, client: httpx.Client) -> None:
    _, genuine = _run_and_token(client)
    other, _ = _run_and_token(client)
    header, payload, signature = genuine.split(".")
    claims = _claims(genuine)
    claims["scopes"]["read"]["runs"].append(other)
    with api.client(f"{header}.{_b64(claims)}.{signature}") as attacker:
        assert error_of(attacker.get(f"/api/v1/runs/{other}"), 401)["code"] == "invalid_token"


def test_expired_token_is_refused(api: Api, client: httpx.Client) -> None:
    run_id, genuine = _run_and_token(client)
    secret = api_keys.signing_secret(tokens.PURPOSE, database_url=api.database_url)
    claims = _claims(genuine) | {"iat": int(time.time()) - 3600, "nbf": int(time.time()) - 3600, "exp": int(time.time()) - 60}
    expired = jwt.encode(claims, secret, algorithm="HS256")
    with api.client(expired) as browser:
        err = error_of(browser.get(f"/api/v1/runs/{run_id}"), 401)
        assert err["code"] == "invalid_token" and "expired" in err["message"]


def test_token_without_expiry_or_for_another_audience_is_refused(api: Api, client: httpx.Client) -> None:
    run_id, genuine = _run_and_token(client)
    secret = api_keys.signing_secret(tokens.PURPOSE, database_url=api.database_url)
    no_exp = {k: v for k, v in _claims(genuine).items() if k != "exp"}
    other_aud = _claims(genuine) | {"aud": "someone-else"}
    for claims in (no_exp, other_aud):
        with api.client(jwt.encode(claims, secret, algorithm="HS256")) as browser:
            assert error_of(browser.get(f"/api/v1/runs/{run_id}"), 401)["code"] == "invalid_token"


def test_tokens_die_with_the_key_that_issued_them(api: Api) -> None:
    created = api.key()
    with api.client(created.key) as c:
        run_id, token = _run_and_token(c)
    with api.client(token) as browser:
        assert browser.get(f"/api/v1/runs/{run_id}").status_code == 200
        api_keys.revoke_key(created.id, database_url=api.database_url)
        assert error_of(browser.get(f"/api/v1/runs/{run_id}"), 401)["code"] == "invalid_token"


def test_secret_key_is_refused_in_the_url(api: Api, client: httpx.Client, secret: str) -> None:
    run_id, _ = _run_and_token(client)
    with api.client() as anonymous:
        err = error_of(anonymous.get(f"/realtime/v1/runs/{run_id}", params={"token": secret}), 401)
        assert err["code"] == "key_in_url"


def test_the_database_never_holds_the_key_nor_the_token_secret(api: Api, client: httpx.Client) -> None:
    """The whole database (the SQLite file with its WAL, or every PostgreSQL table, DBOS's too), after keys were
    created and used and tokens issued, holds neither a key nor the token-signing secret, plain or base64."""
    from tests.secret_scan import database_bytes, hits

    created = api.key(name="scan me")
    with api.client(created.key) as c:
        run_id, token = _run_and_token(c)
        api.wait_run(c, run_id)
    secret = api_keys.signing_secret(tokens.PURPOSE, database_url=api.database_url).decode()
    assert jwt.decode(token, secret, algorithms=["HS256"], audience=tokens.AUDIENCE)["sub"] == created.id  # the real one
    haystack = database_bytes(api.database_url)
    assert api_keys.hash_key(created.key).encode() in haystack  # the scan does see the table
    assert hits(haystack, created.key) == [] and hits(haystack, secret) == []


def test_key_check_time_does_not_depend_on_how_much_of_the_key_matches(api: Api) -> None:
    """Keys are found by their SHA-256 and compared with compare_digest: a guess sharing 36 characters with a real key
    costs what a guess sharing none costs (interleaved medians within a factor of 3 on a loaded machine)."""
    real = api.key().key
    near = real[:-1] + ("A" if real[-1] != "A" else "B")
    far = "tp_dev_" + "Z" * 32

    def check(candidate: str) -> float:
        started = time.perf_counter()
        assert api_keys.verify_key(candidate, database_url=api.database_url) is None
        return time.perf_counter() - started

    for _ in range(20):  # warm up
        check(far)
    near_s, far_s = [], []
    for _ in range(200):  # interleaved, so a burst of load on the machine hits both alike
        near_s.append(check(near))
        far_s.append(check(far))
    near_t, far_t = statistics.median(near_s), statistics.median(far_s)
    assert 1 / 3 < near_t / far_t < 3.0, (near_t, far_t)


def _raw_request(api: Api, raw: bytes) -> bytes:
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and len(data) > 200:
                break
    return data


def test_header_injection_through_the_path_is_not_reflected(api: Api, client: httpx.Client) -> None:
    response = client.post("/api/v1/tasks/x%0d%0aSet-Cookie:%20pwned=1/trigger", json={})
    assert response.status_code == 404 and "set-cookie" not in response.headers
    assert "pwned" not in "".join(f"{k}:{v}" for k, v in response.headers.items())


def test_raw_header_with_a_line_break_in_a_value_is_refused(api: Api, secret: str) -> None:
    raw = (
        b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret.encode()
        + b"\rX-Injected: 1\r\nConnection: close\r\n\r\n"
    )
    answer = _raw_request(api, raw)
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.1 401") or answer == b"", answer[:200]


def test_deep_json_is_refused_cleanly(client: httpx.Client) -> None:
    very_deep = b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/api/v1/tasks/api-echo/trigger", content=very_deep, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text[:300]
    error_of(response, response.status_code)
    just_too_deep: Any = 1
    for _ in range(70):
        just_too_deep = [just_too_deep]
    err = error_of(client.post("/api/v1/tasks/api-echo/trigger", json={"payload": just_too_deep}), 422)
    assert err["metadata"]["field"].startswith("payload") and "deep" in err["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"payload": {"n": 123456789012345678901234567890}}', "payload.n"),
        (b'{"payload": {"x": NaN}}', "payload.x"),
        (b'{"payload": {"x": Infinity}}', "payload.x"),
        (b'{"payload": {"s": "a\\u0000b"}}', "payload.s"),
        (b'{"payload": {"s": "\\ud800"}}', "payload.s"),
        (b'{"payload": 1, "options": {"tags": ["ok", "bad\\u0000"]}}', "options.tags[1]"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(client: httpx.Client, body: bytes, field: str) -> None:
    response = client.post("/api/v1/tasks/api-echo/trigger", content=body, headers={"content-type": "application/json"})
    err = error_of(response, 422)
    assert err["metadata"]["field"] == field, err


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/runs/%2e%2e",
        "/api/v1/runs/run_x%00y",
        "/api/v1/runs/" + "r" * 5000,
        "/api/v1/runs/%ED%A0%80",
        "/api/v1/runs/run_x'%20OR%20'1'='1",
        "/api/v1/schedules/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/schedules/sched_x%00",
    ],
)
def test_path_traversal_and_odd_ids_are_not_found(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert "passwd" not in response.text or "no " in response.text


def test_task_id_traversal_is_an_unknown_task(client: httpx.Client) -> None:
    for task_id in ("..%2F..%2Fetc%2Fpasswd", "api-echo%00", "%2e%2e"):
        response = client.post(f"/api/v1/tasks/{task_id}/trigger", json={})
        assert response.status_code in (404, 422), (task_id, response.status_code)
        error_of(response, response.status_code)


def test_wrong_content_type_and_methods(client: httpx.Client) -> None:
    assert client.delete("/api/v1/tasks").status_code == 405
    response = client.post("/api/v1/tasks/api-echo/trigger", content=b"payload=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code in (400, 422)
    error_of(response, response.status_code)


def test_tokens_in_the_query_never_reach_the_access_log(api: Api, client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    run_id, token = _run_and_token(client)
    api.wait_run(client, run_id)
    logger = logging.getLogger("uvicorn.access")
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.access"), api.client() as browser:
            response = browser.get(f"/realtime/v1/runs/{run_id}", params={"token": token, "x": "1"})
            assert response.status_code == 200
            time.sleep(0.2)
    finally:
        logger.setLevel(previous)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any(f"/realtime/v1/runs/{run_id}?token=[REDACTED]&x=1" in line for line in lines), lines
    assert not any(token in line for line in lines)
