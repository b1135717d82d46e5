"""Independent faults injected as one: one wait for every detection, one for every resolution and one
settle serve them all, where one after the other each paid its own.

Independent means that no fault's expected alert is one another may raise (expected or as a consequence):
otherwise the drill could no longer say which fault delivered it. The service's fault flags are set by one
`PUT /admin/faults`, which replaces what was set, so the flags of the faults are merged into one action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jean_memory_dev.drill.actions import AdminFaults
from jean_memory_dev.drill.model import Action, Fault


def together(name: str, *faults: Fault) -> Fault:
    """One fault that injects every fault of `faults` at once and expects every alert each one expects.

    Raises ValueError where two faults are not independent, set the same flag, or both carry a burn rate
    (an expected burn alert's bound is its own fault's rate, and a fault has one)."""
    for fault in faults:
        for other in faults:
            if other is not fault and (clash := {e.name for e in fault.expect} & other.allowed):
                raise ValueError(f"{name}: {other.name} may raise what {fault.name} must deliver: {sorted(clash)}")
    burns = {f.burn for f in faults if f.burn is not None}
    if len(burns) > 1:
        raise ValueError(f"{name}: more than one burn rate ({sorted(burns)}); inject these apart")
    expect = tuple(e for f in faults for e in f.expect)
    return Fault(
        name,
        _merged_actions(name, faults),
        expect,
        frozenset().union(*(f.related for f in faults)) - {e.name for e in expect},
        burn=burns.pop() if burns else None,
        onset=_merged(name, [f.onset for f in faults]),
        recovery=_merged(name, [f.recovery for f in faults]),
        failover=any(f.failover for f in faults),
    )


def _merged_actions(name: str, faults: tuple[Fault, ...]) -> tuple[Action, ...]:
    """The faults' actions, their admin flags as one `AdminFaults` first."""
    flags = [a for f in faults for a in f.actions if isinstance(a, AdminFaults)]
    others = tuple(a for f in faults for a in f.actions if not isinstance(a, AdminFaults))
    if not flags:
        return others
    if len({a.everywhere for a in flags}) > 1:
        raise ValueError(f"{name}: some flags are set on every replica, some on one")
    spec: dict[str, Any] = _merged(name, [a.spec for a in flags])
    return (AdminFaults(spec, "; ".join(a.what for a in flags), everywhere=flags[0].everywhere), *others)


def _merged(name: str, parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        if clash := merged.keys() & part.keys():
            raise ValueError(f"{name}: set by two faults: {sorted(clash)}")
        merged |= part
    return merged
