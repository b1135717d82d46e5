"""Ports for processes started later are chosen where no outgoing connection takes one by chance."""

from __future__ import annotations

import importlib
import socket

import pytest

spawning = importlib.import_module("jean_memory_dev.processes.spawn")


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    low = spawning._ephemeral_low()
    ports = [spawning.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports)
    for port in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_or_handed_out_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    listening, handed, fresh = spawning.free_port(), spawning.free_port(), spawning.free_port()
    spawning._handed_out.difference_update({listening, fresh})
    offered = iter([listening, handed, fresh])
    monkeypatch.setattr(spawning._random, "randrange", lambda *_: next(offered))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", listening))
        busy.listen()
        assert spawning.free_port() == fresh
