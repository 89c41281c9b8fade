"""Nudges on the fileserver: a worker checks the server's nudge and rings the agent, which beats at once, within bounds.

The waits here are asserted from below only (a wait cannot end before its time on any machine)
or with bounds far above the work (a beat that should come at once, against a 30 s interval).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import falcon.testing
import httpx
import pytest

from coffer.fileserver.agent.heartbeats import NUDGE_GAP, Agent, make_client
from coffer.fileserver.counters import SharedCounters, SlotCounters
from coffer.fileserver.data.app import create_app
from coffer.fileserver.doorbell import Doorbell
from coffer.fileserver.identity import Identity
from coffer.fileserver.maintenance.purger import Purger
from coffer.fileserver.reports import ChunkCensus, CorruptReports
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import Shards
from coffer.protocol import nudges, routes
from coffer.protocol.signing import SigningKey

from .fs_helpers import NOW

INTERVAL = 30.0


@pytest.fixture
def doorbell() -> Doorbell:
    return Doorbell()


@pytest.fixture
def nudged_client(
    settings: Settings, identity: Identity, counters: SlotCounters, doorbell: Doorbell
) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(
        create_app(settings, identity=identity, counters=counters, clock=lambda: NOW, doorbell=doorbell)
    )


def post(client: falcon.testing.TestClient, token: str) -> falcon.testing.Result:
    return client.simulate_post(routes.NUDGE, json=nudges.request_body(token))


def test_a_nudge_the_server_signed_for_this_fileservers_cluster_rings_the_agent(
    nudged_client: falcon.testing.TestClient, server_key: SigningKey, settings: Settings, doorbell: Doorbell
) -> None:
    before = time.monotonic()
    answer = post(nudged_client, nudges.issue(server_key, settings.cluster.id, NOW))
    assert answer.status_code == 202 and answer.json == {"status": "accepted"}
    assert doorbell.last() >= before


def test_a_forged_stale_or_misaddressed_nudge_is_refused_and_rings_nothing(
    nudged_client: falcon.testing.TestClient, server_key: SigningKey, settings: Settings, doorbell: Doorbell
) -> None:
    me = settings.cluster.id
    refused = {
        "forged": post(nudged_client, nudges.issue(SigningKey.generate(), me, NOW)),
        "stale": post(nudged_client, nudges.issue(server_key, me, NOW - nudges.NUDGE_TTL - 1)),
        "another cluster's": post(nudged_client, nudges.issue(server_key, "0" * 8 + me[8:], NOW)),
        "a ticket": post(nudged_client, "x" * 500),
        "not JSON": nudged_client.simulate_post(routes.NUDGE, body=b"nudge"),
        "empty": nudged_client.simulate_post(routes.NUDGE),
    }
    assert {k: r.status_code for k, r in refused.items()} == {
        "forged": 401,
        "stale": 401,
        "another cluster's": 403,
        "a ticket": 400,
        "not JSON": 400,
        "empty": 400,
    }
    assert all(set(r.json) >= {"error", "message"} for r in refused.values())
    assert doorbell.last() == 0.0


@pytest.fixture
def nudged_agent(
    make_settings: Callable[..., Settings], identity: Identity, doorbell: Doorbell, cluster_key: SigningKey
) -> Agent:
    settings = make_settings(heartbeat_interval=INTERVAL)
    shards = list(Shards.open(settings))
    unused = httpx.MockTransport(lambda request: httpx.Response(500))
    return Agent(
        settings,
        identity,
        shards,
        client=make_client(settings, transport=unused),
        totals=SharedCounters(slots=1).totals,
        corrupt=CorruptReports(),
        purger=Purger(shards),
        clock=lambda: NOW,
        census=ChunkCensus(shards, spawn=lambda target: target()),
        doorbell=doorbell,
    )


def timed_wait(agent: Agent, delay: float) -> float:
    started = time.monotonic()
    assert agent._wait(threading.Event(), delay) is False
    return time.monotonic() - started


def test_a_ring_after_the_last_beat_brings_the_next_beat_forward(nudged_agent: Agent, doorbell: Doorbell) -> None:
    nudged_agent._beat_at = time.monotonic()
    doorbell.ring()
    assert timed_wait(nudged_agent, INTERVAL) < INTERVAL / 3, "the beat waited for the interval after a nudge"
    assert nudged_agent.nudged_beats == 1


def test_a_ring_the_last_beat_already_answered_changes_nothing(nudged_agent: Agent, doorbell: Doorbell) -> None:
    doorbell.ring()
    nudged_agent._beat_at = time.monotonic()  # the beat went out after the nudge: its answer held the orders
    assert timed_wait(nudged_agent, 1.0) >= 1.0
    assert nudged_agent.nudged_beats == 0


def test_nudges_bring_at_most_one_beat_forward_per_gap(nudged_agent: Agent, doorbell: Doorbell) -> None:
    """A flood of nudges (genuine, or one replayed) makes a fileserver beat at most once per NUDGE_GAP."""
    started = time.monotonic()
    for _ in range(3):
        nudged_agent._beat_at = time.monotonic()  # as heartbeat() marks it
        doorbell.ring()
        timed_wait(nudged_agent, INTERVAL)
    assert nudged_agent.nudged_beats == 3
    assert time.monotonic() - started >= 2 * NUDGE_GAP


def test_a_failing_agent_keeps_its_backoff_whatever_the_nudges(nudged_agent: Agent, doorbell: Doorbell) -> None:
    nudged_agent._problem = "unreachable: ConnectError"
    doorbell.ring()
    assert timed_wait(nudged_agent, 1.0) >= 1.0
    assert nudged_agent.nudged_beats == 0
