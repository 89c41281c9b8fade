"""The offices' plumbing that needs no namespace: free subnets, tc rates, and the skip-or-fail rule."""

from __future__ import annotations

import ipaddress

import pytest

from bench.sites import parse_rate
from coffer.devnet import offices
from tests.integration import sites


def test_free_subnets_are_distinct_30s_of_the_range_clear_of_every_address_and_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {
        ("ip", "-4", "-o", "addr"): "2: eth0    inet 10.213.0.1/17 brd 10.213.127.255 scope global eth0\n",
        ("ip", "-4", "route"): "10.213.128.0/18 dev cf0 proto kernel\ndefault via 192.0.2.1 dev eth0\n",
    }
    monkeypatch.setattr(offices, "run", lambda *args: answers[args])
    picked = offices.free_subnets(50)
    assert len(set(picked)) == 50
    for subnet in picked:
        assert subnet.prefixlen == 30 and subnet.subnet_of(offices.RANGE)
        assert not subnet.overlaps(ipaddress.ip_network("10.213.0.0/17"))
        assert not subnet.overlaps(ipaddress.ip_network("10.213.128.0/18"))


def test_a_machine_without_namespaces_skips_the_office_tests_saying_why_and_fails_them_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sites, "unavailable", lambda: "making network namespaces needs root")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        sites.require_offices()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs root"):
        sites.require_offices()


def test_tc_rates_read_as_bits_per_second() -> None:
    assert parse_rate("50mbit") == 50e6 and parse_rate("800kbit") == 800e3 and parse_rate("1gbit") == 1e9
