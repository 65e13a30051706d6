"""The outbound URL policy: where the server may send a request on a client's behalf.

A URL a client gives us (a webhook endpoint, any future fetch) must not turn the server into
a proxy into its own network. A destination is allowed only if every address its name
resolves to is public (``ipaddress``'s ``is_global``, and not multicast); loopback, private,
link-local, CGNAT (100.64/10), multicast, reserved and unspecified addresses are refused,
unless they fall in ``KALLGLOT_OUTBOUND_ALLOWED_NETWORKS`` (on-premises receivers). In
production only ``https`` URLs are accepted.

The check runs when a URL is registered and again at every request: :meth:`OutboundPolicy.
transport` resolves the name, checks the addresses and connects to the address it checked, so
a name that is re-pointed between the check and the connection (DNS rebinding) cannot reach a
refused address. The URL's host still travels in the ``Host`` header and in TLS SNI, and the
certificate is verified against it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from kallglot.core.errors import ValidationFailedError
from kallglot.core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the name resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class DestinationRefused(httpcore.ConnectError):
    """A connection the policy refused; httpx reports it as ``httpx.ConnectError`` from this."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


@dataclass(frozen=True)
class OutboundPolicy:
    https_only: bool = True
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls(
            https_only=settings.env == "production",
            allowed_networks=parse_networks(settings.outbound_allowed_networks),
        )

    def address_allowed(self, address: str) -> bool:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in network for network in self.allowed_networks):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        # is_global is False for private, loopback, link-local, CGNAT, reserved, unspecified.
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str, *, param: str = "url") -> tuple[str, int]:
        """The URL's host and port, if its form is acceptable (scheme, host); else a 422."""
        parts = urlsplit(url)
        schemes = ("https",) if self.https_only else ("https", "http")
        if parts.scheme not in schemes:
            raise _refused(f"The URL must use {' or '.join(schemes)}.", param)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _refused("The URL's port is not valid.", param) from None
        if not parts.hostname:
            raise _refused("The URL has no host.", param)
        return parts.hostname, port

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, or :class:`DestinationRefused` if any is not allowed."""
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise httpcore.ConnectError("the host name does not resolve") from exc
        if not addresses or not all(self.address_allowed(address) for address in addresses):
            raise DestinationRefused("the destination is not allowed by the outbound policy")
        return addresses

    async def check(self, url: str, *, param: str = "url") -> None:
        """Refuse (422) a URL whose form or resolved addresses the policy does not allow.

        A name that does not resolve yet is let through: every request checks again.
        """
        host, port = self.check_url(url, param=param)
        try:
            await self.checked_addresses(host, port)
        except DestinationRefused:
            raise _refused(
                "The URL points at an address the server may not call "
                "(loopback, private, link-local, shared or reserved).",
                param,
            ) from None
        except httpcore.ConnectError:
            return

    def transport(self, *, verify: ssl.SSLContext | bool = True) -> httpx.AsyncBaseTransport:
        """An httpx transport that checks every connection and connects to the checked address."""
        return _PinnedTransport(self, verify)


def _refused(message: str, param: str) -> ValidationFailedError:
    return ValidationFailedError(message, code="url_not_allowed", param=param)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.checked_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("resolving the host timed out") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # checked_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and error mapping), on a pool that dials through the
    policy. Proxies from the environment are not used: the policy judges the final hop."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | bool) -> None:
        super().__init__(verify=verify, trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(policy),
        )


def refused_by_policy(exc: BaseException) -> bool:
    """Whether an httpx error was the policy refusing the destination."""
    return isinstance(exc.__cause__, DestinationRefused) or isinstance(exc, DestinationRefused)
