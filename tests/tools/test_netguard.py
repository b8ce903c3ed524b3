"""web_fetch's address policy: internal addresses, allow-lists, resolution and pinning."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from activities.tools import netguard
from activities.tools.base import ToolError

ip = ipaddress.ip_address

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.0.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::ffff:127.0.0.1", "IPv6 form of 127.0.0.1, which is loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:100.64.1.1", "carrier-grade NAT"),
    ("64:ff9b::10.0.0.1", "IPv6 form of 10.0.0.1"),
    ("64:ff9b:1::1", "NAT64"),
    ("2002:7f00:1::1", "IPv6 form of 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "metadata"),
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "100.128.0.1",  # just past CGNAT
    "100.63.255.255",  # just before CGNAT
    "172.32.0.1",  # just past 172.16/12
    "2606:2800:220:1:248:1893:25c8:1946",
    "2001:4860:4860::8888",
    "::ffff:93.184.216.34",
    "64:ff9b::8.8.8.8",
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_internal_addresses_are_blocked_with_a_reason(address: str, reason: str) -> None:
    why = netguard.blocked_reason(ip(address))
    assert why is not None and reason in why
    assert not netguard.Policy().allows(ip(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert netguard.blocked_reason(ip(address)) is None
    assert netguard.Policy().allows(ip(address))


def test_allow_networks_open_only_their_range() -> None:
    policy = netguard.Policy(allow_networks=tuple(netguard.parse_networks(["127.0.0.1/32"])))
    assert policy.allows(ip("127.0.0.1"))
    assert policy.allows(ip("::ffff:127.0.0.1"))  # the mapped form is the same host
    assert not policy.allows(ip("127.0.0.2"))
    assert not policy.allows(ip("::1"))
    assert not policy.allows(ip("169.254.169.254"))

    intranet = netguard.Policy(
        allow_networks=tuple(netguard.parse_networks(["10.0.0.0/8", "fd00::/8"]))
    )
    assert intranet.allows(ip("10.9.9.9"))
    assert intranet.allows(ip("fd00::5"))
    assert not intranet.allows(ip("192.168.0.1"))
    assert not intranet.allows(ip("fc00::5"))


def test_allow_private_opens_everything() -> None:
    policy = netguard.Policy(allow_private=True)
    for address, _ in BLOCKED:
        assert policy.allows(ip(address))


def test_one_bad_address_taints_the_host() -> None:
    with pytest.raises(ToolError, match=r"example\.test resolves to 10\.0\.0\.1, which is private"):
        netguard.Policy().check("example.test", [ip("93.184.216.34"), ip("10.0.0.1")])
    netguard.Policy().check("example.test", [ip("93.184.216.34"), ip("2001:4860:4860::8888")])


def test_bad_cidr_in_settings_is_reported() -> None:
    with pytest.raises(ToolError, match="fetch_allow_networks has an invalid CIDR 'not-a-net'"):
        netguard.parse_networks(["10.0.0.0/8", "not-a-net"])
    assert netguard.parse_networks(["10.0.0.1/8"]) == [ipaddress.ip_network("10.0.0.0/8")]


async def test_resolve_and_vet() -> None:
    assert await netguard.resolve("127.0.0.1", 80) == [ip("127.0.0.1")]
    assert ip("127.0.0.1") in await netguard.resolve("localhost", 80)
    with pytest.raises(ToolError, match=r"cannot resolve host 'no-such-host\.invalid'"):
        await netguard.resolve("no-such-host.invalid", 80)

    with pytest.raises(ToolError, match=r"localhost resolves to 127\.0\.0\.1, which is loopback"):
        await netguard.vet(httpx.URL("http://localhost:8080/x"), netguard.Policy())
    with pytest.raises(ToolError, match="refused: ::1 is loopback"):
        await netguard.vet(httpx.URL("http://[::1]:8080/x"), netguard.Policy())
    allowed = netguard.Policy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    assert await netguard.vet(httpx.URL("https://127.0.0.7/"), allowed) == [ip("127.0.0.7")]


def test_pin_keeps_the_name_for_host_and_sni() -> None:
    url, headers, extensions = netguard.pin(
        httpx.URL("https://Example.COM:8443/a/b?q=1"), ip("93.184.216.34")
    )
    assert str(url) == "https://93.184.216.34:8443/a/b?q=1"
    assert headers == {"Host": "example.com:8443"}
    assert extensions == {"sni_hostname": "example.com"}

    url, headers, extensions = netguard.pin(
        httpx.URL("http://bücher.example/"), ip("2606:2800:220:1:248:1893:25c8:1946")
    )
    assert str(url) == "http://[2606:2800:220:1:248:1893:25c8:1946]/"
    assert headers == {"Host": "xn--bcher-kva.example"}
    assert extensions == {"sni_hostname": "xn--bcher-kva.example"}
