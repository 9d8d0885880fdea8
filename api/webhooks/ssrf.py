"""The address check every webhook URL passes, when it is registered and again before every attempt.

A webhook is a request our server makes to a URL someone else typed: without a check it reaches whatever our server
can reach (the cloud's metadata service, the database, an admin port on loopback). So:

- only `http`/`https`, no credentials in the URL, no control characters or spaces (no header injection);
- the host is resolved and *every* address it resolves to must be public: loopback, private (RFC 1918, ULA),
  link-local, shared (100.64/10), multicast, reserved, unspecified and IPv4 hidden in IPv6 (mapped, 6to4, Teredo)
  are refused; decimal, octal and hex spellings of 127.0.0.1 resolve to it and are refused with it;
- the request then connects to the address that was checked (no second resolution a DNS rebinding could change;
  TLS still verifies the certificate against the host name), and redirects are never followed.

`TASKPACK_WEBHOOK_ALLOW_PRIVATE=1` (local development, tests) allows loopback and private networks; the cloud
metadata addresses, multicast and unspecified addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOW_PRIVATE_ENV = "TASKPACK_WEBHOOK_ALLOW_PRIVATE"
MAX_URL_CHARS = 2048
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookURLError(ValueError):
    """The URL may not receive webhooks; the message says why (never more than the URL's host)."""

    field = "url"


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def allow_private() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")


def parse_url(url: object) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or UnsafeWebhookURLError."""
    if not isinstance(url, str) or not url:
        raise UnsafeWebhookURLError("url: a URL is required")
    if len(url) > MAX_URL_CHARS:
        raise UnsafeWebhookURLError(f"url: at most {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeWebhookURLError("url: spaces and control characters are not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookURLError("url: not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeWebhookURLError("url: only http and https URLs receive webhooks")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeWebhookURLError("url: credentials in the URL are not allowed (the signature authenticates us)")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookURLError("url: the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def address_problem(address: IPAddress, *, private_allowed: bool) -> str | None:
    """Why this address may not receive webhooks, or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        problem = address_problem(embedded, private_allowed=private_allowed)
        return f"{problem} (inside an IPv6 address)" if problem else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if private_allowed:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "an address that is not publicly routable"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: the last 32 bits are the IPv4 destination
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeWebhookURLError(f"url: the host {host!r} does not resolve") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone id is not part of the address
        if address not in seen:
            seen.append(address)
    if not seen:
        raise UnsafeWebhookURLError(f"url: the host {host!r} does not resolve")
    return seen


def check_url(url: object, *, private_allowed: bool | None = None) -> CheckedURL:
    """The URL with the addresses it may be reached at; UnsafeWebhookURLError when any address is refused."""
    scheme, host, port = parse_url(url)
    allowed = allow_private() if private_allowed is None else private_allowed
    addresses = resolve(host, port)
    for text in addresses:
        problem = address_problem(ipaddress.ip_address(text), private_allowed=allowed)
        if problem:
            hint = "" if allowed else f" (set {ALLOW_PRIVATE_ENV}=1 for local development)"
            raise UnsafeWebhookURLError(f"url: the host {host!r} resolves to {problem}, which may not receive webhooks{hint}")
    assert isinstance(url, str)
    return CheckedURL(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
