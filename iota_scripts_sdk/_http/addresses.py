"""The SSRF core: which hosts and addresses a script's request may reach.

Everything that decides "may this hop go there" is in this file, and nothing else is: no
network, no policy object, no request. Read it alone to review the rules.

* :func:`normalise_host` turns a URL host into one canonical spelling: IDNA, lower case, one
  trailing dot stripped, and every legacy IPv4 notation (``0x7f.1``, ``2130706433``,
  ``0177.0.0.1``, full-width digits...) parsed as the IP literal it is.
* :func:`compile_pattern` / :func:`host_matches`: the allow-list syntax (``*``, an exact name,
  ``*.example.com`` for strict subdomains, or an IP literal).
* :func:`is_blocked`: an address is allowed only when it is global unicast and outside an
  explicit deny list (loopback, RFC 1918, link-local and cloud metadata, CGNAT, NAT64,
  6to4, ULA, multicast, documentation ranges...). The IPv4 address that an IPv6 address
  tunnels to is checked too.
* :func:`check_destination` applies the checks that need no network (IP literals,
  ``localhost``, the allow-list) before a name is resolved; :func:`check_resolved` applies
  the deny list to what the name resolved to. ``connection.py`` resolves each hop exactly
  once and connects only to the addresses :func:`check_resolved` returned (DNS pinning).

Errors: ``destination_blocked`` (:class:`~iota_scripts_sdk.errors.ScriptError`) from the two
``check_*`` functions; ``ValueError``/``TypeError`` from the parsers, which their callers
turn into ``invalid_argument`` with a message of their own.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from ..errors import ScriptError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOSTNAME_RE = re.compile(r"[a-z0-9_\-]{1,63}(?:\.[a-z0-9_\-]{1,63})*")

# Explicit deny lists, checked on top of ``is_global``. ``ipaddress``'s idea of "global" has
# changed between Python versions (e.g. 3.11 calls 224.0.0.0/4 multicast "global" and
# ``::1.2.3.4`` global), so we never rely on it alone.
_DENY_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    )
)
_DENY_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "fc00::/7",  # unique local, incl. fd00::/8
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)
#: Only this block is allocated for global unicast; anything else in IPv6 is refused.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64_WKP = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Pattern:
    """One compiled allow-list / credentials host pattern."""

    kind: str  # "any" | "exact" | "suffix" | "ip"
    value: str
    ip: IPAddress | None = None


# --------------------------------------------------------------------------------------------
# Host names, IP literals and patterns
# --------------------------------------------------------------------------------------------


def _ends_in_number(host: str) -> bool:
    """WHATWG "ends in a number": such hosts MUST parse as IPv4 or be refused.

    Without this rule ``http://0x7f.1/`` would be treated as a name and handed to
    getaddrinfo, which (like inet_aton) happily turns it into 127.0.0.1.
    """
    labels = host.split(".")
    last = labels[-1]
    if last.isdigit() and last.isascii():
        return True
    return last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:])


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse every inet_aton spelling: ``0``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``,
    ``127.1``... Returns None when *host* is not a valid IPv4 in any of these forms.

    Digits are checked explicitly because ``int()`` also accepts ``_``, ``+`` and spaces.
    """
    parts = host.split(".")
    if len(parts) > 4 or any(p == "" for p in parts):
        return None
    numbers: list[int] = []
    for part in parts:
        if part[:2] == "0x":
            digits, base, alphabet = part[2:], 16, "0123456789abcdef"
        elif len(part) > 1 and part[0] == "0":
            digits, base, alphabet = part[1:], 8, "01234567"
        else:
            digits, base, alphabet = part, 10, "0123456789"
        if not all(c in alphabet for c in digits):
            return None
        numbers.append(int(digits, base) if digits else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def normalise_host(raw: str) -> tuple[str, IPAddress | None]:
    """Normalise a host (without brackets) to ``(text, ip_or_None)``; ValueError if invalid.

    One trailing dot is stripped, non-ASCII names go through IDNA (which also maps
    full-width digits and ideographic dots, so such a spelling of 127.0.0.1 becomes an IP
    literal here), and names that end in a number are parsed as IPv4 in every legacy
    notation.
    """
    host = raw[:-1] if raw.endswith(".") else raw
    if not host:
        raise ValueError("empty host")
    if ":" in host:
        if "%" in host:  # zone ids ("fe80::1%eth0") select a local interface
            raise ValueError("IPv6 zone identifiers are not allowed")
        ip6 = ipaddress.IPv6Address(host)
        return str(ip6), ip6
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("invalid international host name") from None
    host = host.lower()
    if _ends_in_number(host):
        ip = _parse_legacy_ipv4(host)
        if ip is None:
            raise ValueError("malformed IPv4 address")
        return str(ip), ip
    if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
        raise ValueError("malformed host name")
    return host, None


@functools.lru_cache(maxsize=1024)
def compile_pattern(entry: str) -> Pattern:
    """Parse an allow-list / credentials host pattern; ValueError if malformed."""
    if not isinstance(entry, str):
        raise TypeError("host patterns must be strings")
    text = entry.strip()
    if text == "*":
        return Pattern("any", "*")
    if text.startswith("*."):
        host, ip = normalise_host(text[2:])
        if ip is not None:
            raise ValueError(f"wildcard pattern on an IP address: {entry!r}")
        return Pattern("suffix", "." + host)
    if "*" in text:
        raise ValueError(f"unsupported wildcard in host pattern {entry!r}")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    host, ip = normalise_host(text)
    if ip is not None:
        return Pattern("ip", host, ip)
    return Pattern("exact", host)


def host_matches(entry: str, host: str, ip: IPAddress | None) -> bool:
    """Whether the normalised *host* (*ip* when it is a literal) matches the pattern *entry*.

    Names never match IP patterns and IP literals never match name patterns.
    """
    pattern = compile_pattern(entry)
    if pattern.kind == "any":
        return True
    if pattern.kind == "ip":
        return ip is not None and ip == pattern.ip
    if ip is not None:
        return False
    if pattern.kind == "exact":
        return host == pattern.value
    return host.endswith(pattern.value)  # "suffix": strict subdomains only


# --------------------------------------------------------------------------------------------
# Address validation
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def parse_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Parse ``HttpPolicy.extra_allowed_networks``; ValueError/TypeError if malformed."""
    if isinstance(entries, str):
        raise TypeError("extra_allowed_networks must be a tuple of CIDR strings")
    return tuple(ipaddress.ip_network(str(e).strip(), strict=False) for e in entries)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WKP:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_blocked(ip: IPAddress, extra: tuple[IPNetwork, ...]) -> bool:
    """True unless *ip* is a public unicast address (or exempted by *extra*).

    The embedded IPv4 of mapped/6to4/NAT64 addresses is checked first and cannot be exempted
    by exempting the outer IPv6 network: ``2002:7f00:1::`` reaches 127.0.0.1 through a 6to4
    relay whatever the operator thought ``2002::/16`` meant.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and is_blocked(embedded, extra):
            return True
    if any(ip in net for net in extra):  # cross-version "in" is simply False
        return False
    deny: tuple[IPNetwork, ...] = _DENY_V4 if ip.version == 4 else _DENY_V6
    if any(ip in net for net in deny):
        return True
    if (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return True
    return isinstance(ip, ipaddress.IPv6Address) and ip not in _V6_GLOBAL_UNICAST


def check_destination(
    host: str,
    ip: IPAddress | None,
    allow_hosts: tuple[str, ...],
    extra_allowed_networks: tuple[str, ...],
) -> None:
    """Checks that need no network: literal IPs, localhost names, the allow-list.

    *host*/*ip* come from :func:`normalise_host`. Raises ``destination_blocked``.
    """
    if ip is not None:
        if is_blocked(ip, parse_networks(tuple(extra_allowed_networks))):
            raise ScriptError("destination_blocked", f"{host} is not a public address")
    elif host == "localhost" or host.endswith(".localhost"):
        # RFC 6761: always loopback, whatever DNS says; refuse without asking anybody.
        raise ScriptError("destination_blocked", f"{host} is not a public address")
    if not allow_hosts:
        raise ScriptError("destination_blocked", "this host allows no HTTP destinations")
    if not any(host_matches(entry, host, ip) for entry in allow_hosts):
        raise ScriptError("destination_blocked", f"host {host} is not in the allow-list")


def check_resolved(
    host: str, resolved: list[str], extra_allowed_networks: tuple[str, ...]
) -> list[str]:
    """The addresses the name *host* resolved to, deduplicated, once all of them are allowed.

    If ANY address is blocked the whole hop is refused: picking the "good" one would let an
    attacker who controls the zone keep a foot in the door (and some clients/libraries
    downstream could still try the others). Raises ``destination_blocked``.
    """
    extra = parse_networks(tuple(extra_allowed_networks))
    addresses: list[str] = []
    for text in resolved:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise ScriptError(
                "destination_blocked", f"{host} resolves to an invalid address"
            ) from None
        if is_blocked(ip, extra):
            raise ScriptError("destination_blocked", f"{host} resolves to a non-public address")
        if str(ip) not in addresses:
            addresses.append(str(ip))
    return addresses
