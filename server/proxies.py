"""Find the address a request came from when the server sits behind reverse proxies.

Behind nginx every request arrives from the proxy's address, so per-address
limits and the audit log would see one client. ``X-Forwarded-For`` names the
real client, but anyone can send that header: it is believed only when the peer
is a proxy the admin listed in ``trusted_proxies``, and then only as far back as
the chain runs through listed proxies (the rightmost address that is not one of
them is the client).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """Parse a comma-separated list of addresses or networks (``10.0.0.5, 192.168.0.0/24``)."""
        items = [item.strip() for item in spec.split(",") if item.strip()]
        return cls(tuple(ipaddress.ip_network(item, strict=False) for item in items))

    def trusts(self, address: str) -> bool:
        if not _is_address(address):
            return False
        ip = ipaddress.ip_address(address.strip("[]"))
        return any(ip in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """Return the client's address: *peer*, or the first hop before our trusted proxies.

        SECURITY: only hops appended by trusted proxies are read; whatever the
        client itself put at the left of the header is never taken.
        """
        address = peer or "-"
        if not self.networks or not forwarded_for or not self.trusts(address):
            return address
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not _is_address(hop):
                break
            address = hop
            if not self.trusts(hop):
                break
        return address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
