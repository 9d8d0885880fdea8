"""One HTTP attempt at a webhook: to the address the SSRF check approved, signed, never following a redirect.

The outcome is data (`AttemptOutcome`), never an exception, so the delivery task can record it as a durable step
and a replayed delivery reads the recorded outcome instead of posting again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime

import httpx

from api.webhooks.ssrf import CheckedURL, UnsafeWebhookURLError, check_url

TIMEOUT = httpx.Timeout(15.0, connect=5.0)  # Standard Webhooks: receivers answer within 15-30 s
MAX_RESPONSE_BYTES = 1000
USER_AGENT = "analyst-taskpack-webhooks/1"


@dataclass
class AttemptOutcome:
    started_at: float
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def post(url: str, headers: dict[str, str], body: bytes) -> AttemptOutcome:
    """POST `body` to `url` after checking its addresses again (they may have changed since registration)."""
    started = time.time()
    clock = time.monotonic()
    try:
        checked = check_url(url)
    except UnsafeWebhookURLError as exc:
        return AttemptOutcome(started, _ms(clock), error=str(exc))
    last_error = "no address answered"
    for address in checked.addresses:
        try:
            return _post_to(checked, address, headers, body, started, clock)
        except httpx.ConnectError as exc:  # try the host's next address
            last_error = f"connection failed: {_describe(exc)}"
        except httpx.TimeoutException:
            return AttemptOutcome(started, _ms(clock), error="timed out")
        except httpx.HTTPError as exc:
            return AttemptOutcome(started, _ms(clock), error=f"request failed: {_describe(exc)}")
    return AttemptOutcome(started, _ms(clock), error=last_error)


def _post_to(checked: CheckedURL, address: str, headers: dict[str, str], body: bytes, started: float, clock: float) -> AttemptOutcome:
    original = httpx.URL(checked.url)
    pinned = original.copy_with(host=address)
    request_headers = {**headers, "host": original.netloc.decode("ascii"), "user-agent": USER_AGENT}
    extensions = {"sni_hostname": checked.host} if checked.scheme == "https" else {}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        request = client.build_request("POST", pinned, headers=request_headers, content=body, extensions=extensions)
        response = client.send(request, stream=True)
        try:
            received = bytearray()
            for chunk in response.iter_bytes():
                received.extend(chunk)
                if len(received) >= MAX_RESPONSE_BYTES:
                    break
        finally:
            response.close()
    text = bytes(received[:MAX_RESPONSE_BYTES]).decode("utf-8", "replace")
    error = None
    if not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}" + (" (redirects are not followed)" if 300 <= response.status_code < 400 else "")
    return AttemptOutcome(
        started,
        _ms(clock),
        status_code=response.status_code,
        error=error,
        response=text or None,
        retry_after=_retry_after(response) if response.status_code in (429, 502, 503, 504) else None,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _ms(clock: float) -> float:
    return round((time.monotonic() - clock) * 1000, 1)


def _describe(exc: Exception) -> str:
    return str(exc)[:200] or type(exc).__name__
