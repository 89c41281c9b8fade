"""The pure part of the worker's edge limits: head framing, address keys, the per-address count."""

from __future__ import annotations

import pytest

from coffer.serving.limits import BusyAddresses, EdgeLimits, OpenConnections, address_key, head_end


def test_a_head_ends_after_its_blank_line_and_not_before() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"
    assert head_end(head) == len(head) - 4
    assert head_end(head[:-5]) == -1


def test_a_head_arriving_a_byte_at_a_time_is_found_when_its_last_byte_comes() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    searched = 0
    for n in range(1, len(head)):
        assert head_end(head[:n], searched) == -1
        searched = n
    assert head_end(head, searched) == len(head)


def test_ipv6_peers_count_by_their_slash_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key(("2001:db8::1", 1, 0, 0)) == address_key(("2001:db8::ffff", 2, 0, 0)) == "2001:db8::/64"
    assert address_key(("::ffff:10.0.0.1", 1, 0, 0)) == "10.0.0.1"
    assert address_key(("10.0.0.1", 80)) == "10.0.0.1"
    assert address_key("") is None, "a Unix socket peer is not counted"


def test_an_address_at_its_cap_is_refused_until_one_of_its_connections_closes() -> None:
    open_ = OpenConnections(EdgeLimits(per_address=2))
    assert open_.take("10.0.0.1") and open_.take("10.0.0.1")
    assert not open_.take("10.0.0.1")
    assert open_.take("10.0.0.2"), "another address has its own count"
    open_.release("10.0.0.1")
    assert open_.take("10.0.0.1")
    assert open_.count("10.0.0.1") == 2


def test_an_exempt_proxy_and_a_cap_of_zero_are_never_refused() -> None:
    proxied = OpenConnections(EdgeLimits(per_address=1, exempt=lambda host: host == "10.0.0.9"))
    assert all(proxied.take("10.0.0.9", "10.0.0.9") for _ in range(5))
    uncapped = OpenConnections(EdgeLimits(per_address=0))
    assert all(uncapped.take("10.0.0.1") for _ in range(500))


@pytest.mark.parametrize("bad", [{"header_timeout": 0}, {"header_timeout": 4000}, {"per_address": -1}])
def test_limits_out_of_range_are_refused_with_the_settings_name(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="header_timeout|connections_per_address"):
        EdgeLimits(**bad)  # type: ignore[arg-type]


def test_one_address_may_hold_half_the_threads_and_gets_room_back_as_its_requests_end() -> None:
    busy = BusyAddresses(EdgeLimits(per_address=64), threads=8)
    assert [busy.enter("10.0.0.1") for _ in range(5)] == [True] * 4 + [False]
    assert busy.room("10.0.0.1") == 0 and busy.room("10.0.0.2") == 4
    busy.leave("10.0.0.1")
    assert busy.room("10.0.0.1") == 1 and busy.enter("10.0.0.1")


def test_the_thread_share_is_not_applied_to_exempt_proxies_nor_with_the_cap_off() -> None:
    proxy = EdgeLimits(per_address=64, exempt=lambda host: host == "10.0.0.9")
    assert not BusyAddresses(proxy, 8).counts("10.0.0.9", "10.0.0.9")
    assert BusyAddresses(proxy, 8).counts("10.0.0.1", "10.0.0.1")
    assert not BusyAddresses(EdgeLimits(per_address=0), 8).counts("10.0.0.1", "10.0.0.1")
    assert BusyAddresses(EdgeLimits(), 1).cap == 1, "a one-thread worker still serves"
