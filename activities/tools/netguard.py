"""Address policy of the web tools: which hosts web_fetch may connect to, and how it pins them.

A URL's host is resolved once, every resolved address is checked, and the request then goes to
one of those checked addresses (the URL's host is swapped for the IP; the original name travels in
the `Host` header and as the TLS SNI/verification name). A name that resolves to a public address
at check time and to 127.0.0.1 at connect time (DNS rebinding) therefore cannot reach the inside.

Limits: proxies are not supported (the client ignores proxy variables, since a proxy would do its
own resolution), and the policy is about addresses only, not ports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from activities.tools.base import ToolError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# First match wins, so narrow ranges come before the ranges that contain them.
_V4_BLOCKED: list[tuple[str, str]] = [
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (where cloud metadata services live)"),
    ("192.0.0.0/24", "reserved for IETF protocol assignments"),
    ("192.0.2.0/24", "reserved for documentation"),
    ("198.51.100.0/24", "reserved for documentation"),
    ("203.0.113.0/24", "reserved for documentation"),
    ("198.18.0.0/15", "reserved for benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
]
_V6_BLOCKED: list[tuple[str, str]] = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated, reserved)"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "reserved for documentation"),
    ("fc00::/7", "unique local (IPv6 ULA)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
]
_V4_TABLE = [(ipaddress.IPv4Network(net), why) for net, why in _V4_BLOCKED]
_V6_TABLE = [(ipaddress.IPv6Network(net), why) for net, why in _V6_BLOCKED]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64 or 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def blocked_reason(ip: Address) -> str | None:
    """Why `ip` is not a public internet address, or None when it is."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        # Mapped/translated addresses reach whatever the IPv4 address reaches.
        why = blocked_reason(inner)
        return None if why is None else f"an IPv6 form of {inner}, which is {why}"
    table: Sequence[tuple[Network, str]] = (
        _V4_TABLE if isinstance(ip, ipaddress.IPv4Address) else _V6_TABLE
    )
    for network, why in table:
        if ip in network:
            return why
    if ip.is_multicast:
        return "multicast"
    if not ip.is_global:
        return "not globally routable"
    return None


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    """Parse the operator's `fetch_allow_networks`; a bad entry is reported, not ignored."""
    networks: list[Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ToolError(
                f"the operator setting fetch_allow_networks has an invalid CIDR {cidr!r}"
            ) from None
    return networks


@dataclass(frozen=True)
class Policy:
    """What an operator allows beyond public addresses."""

    allow_private: bool = False
    allow_networks: tuple[Network, ...] = ()
    # The agent's declared destinations (an installed package's `permissions.network`);
    # None: any host the address rules allow.
    allow_hosts: tuple[str, ...] | None = None

    def check_host(self, host: str) -> None:
        """Raise ToolError when the agent may not reach `host` (not a declared destination)."""
        if self.allow_hosts is None:
            return
        name = host.lower().rstrip(".")
        for pattern in self.allow_hosts:
            if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
                return
        declared = ", ".join(self.allow_hosts) or "none"
        raise ToolError(
            f"refused: {host} is not a destination this agent's package declared "
            f"(declared: {declared})"
        )

    def allows(self, ip: Address) -> bool:
        """Whether the policy lets a connection go to `ip`."""
        if self.allow_private or blocked_reason(ip) is None:
            return True
        inner = embedded_ipv4(ip)
        return any(ip in net or (inner is not None and inner in net) for net in self.allow_networks)

    def check(self, host: str, addresses: Sequence[Address]) -> None:
        """Raise ToolError when any address of `host` is refused (one bad address taints all)."""
        for ip in addresses:
            if not self.allows(ip):
                what = f"{ip} is" if host == str(ip) else f"{host} resolves to {ip}, which is"
                raise ToolError(
                    f"refused: {what} {blocked_reason(ip)}; "
                    "web_fetch only reaches public internet addresses"
                )


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, in resolver order, without duplicates."""
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ToolError(f"cannot resolve host {host!r}: {exc}") from None
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # Link-local results may carry a zone ("fe80::1%eth0"); the policy looks at the address.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ToolError(f"cannot resolve host {host!r}: no addresses")
    return addresses


async def vet(url: httpx.URL, policy: Policy) -> list[Address]:
    """Resolve the URL's host and check every address; return the addresses to connect to."""
    host = url.raw_host.decode("ascii")
    if not host:
        raise ToolError(f"URL {url} has no host")
    policy.check_host(host)
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(host, port)
    policy.check(host, addresses)
    return addresses


def pin(url: httpx.URL, ip: Address) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request URL aimed at `ip`, with the Host header and SNI extension that keep the name.

    The name still drives virtual hosting (Host) and TLS: httpcore sends `sni_hostname` as the
    server name and verifies the certificate against it, not against the IP in the URL.
    """
    name = url.raw_host.decode("ascii")
    host_header = url.netloc.decode("ascii")
    return url.copy_with(host=str(ip)), {"Host": host_header}, {"sni_hostname": name}
