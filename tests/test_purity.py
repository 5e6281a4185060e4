"""A product function that could give another value on replay is refused when it registers:
the clock, randomness, I/O, imports and state it could keep are all named, and nothing is
registered. The products' own functions pass: the catalog would not import otherwise."""

from __future__ import annotations

import datetime
import math
import random
import time
from collections.abc import Callable, Mapping

import pytest

from workflows.functions import Value, computation, registered
from workflows.purity import ImpureFunction, impurities

#: Module state a function could change between a run and its replay.
_TALLY = [0.0]
#: A constant a function may read: a number, pinned in its fingerprint.
_FACTOR = 2.5


def reads_the_clock(v: Mapping[str, Value]) -> dict[str, Value]:
    return {"x": time.time()}


def reads_the_date(v: Mapping[str, Value]) -> dict[str, Value]:
    return {"x": datetime.datetime.now().timestamp()}


def imports_random(v: Mapping[str, Value]) -> dict[str, Value]:
    import random as r

    return {"x": r.random()}


def reads_a_list(v: Mapping[str, Value]) -> dict[str, Value]:
    return {"x": _TALLY[0]}


def opens_a_file(v: Mapping[str, Value]) -> dict[str, Value]:
    with open("/dev/null") as f:
        return {"x": float(len(f.read()))}


def keeps_a_generator(
    v: Mapping[str, Value], rng: random.Random = random.Random(1)
) -> dict[str, Value]:
    return {"x": rng.random()}


def changes_state(v: Mapping[str, Value]) -> dict[str, Value]:
    global _FACTOR
    _FACTOR = 3.0
    return {"x": 1.0}


def in_a_comprehension(v: Mapping[str, Value]) -> dict[str, Value]:
    return {k: float(x) * random.random() for k, x in v.items()}


IMPURE: list[tuple[Callable[..., object], str]] = [
    (reads_the_clock, "reads 'time'"),
    (reads_the_date, "reads 'datetime'"),
    (imports_random, "imports 'random'"),
    (reads_a_list, "reads '_TALLY'"),
    (opens_a_file, "reads 'open'"),
    (keeps_a_generator, "has a Random default"),
    (changes_state, "changes the global '_FACTOR'"),
    (in_a_comprehension, "reads 'random'"),
]


@pytest.mark.parametrize(("fn", "reason"), IMPURE, ids=[f.__name__ for f, _ in IMPURE])
def test_an_impure_computation_is_refused_when_it_registers(
    fn: Callable[[Mapping[str, Value]], Mapping[str, Value]], reason: str
) -> None:
    name = f"test.impure.{fn.__name__}"
    with pytest.raises(ImpureFunction, match=reason):
        computation(name, inputs=("a",), outputs=("x",))(fn)
    assert registered(name) is None, "an impure function was registered"


def test_a_closure_over_a_generator_is_refused() -> None:
    rng = random.Random(7)

    def draws(v: Mapping[str, Value]) -> dict[str, Value]:
        return {"x": rng.random()}

    assert impurities(draws) == ["keeps Random in its closure"]


def test_numbers_texts_math_and_pure_builtins_are_allowed() -> None:
    def dose(v: Mapping[str, Value]) -> dict[str, Value]:
        per_kg = float(v["cells"]) / float(v["weight_kg"]) * _FACTOR
        band = "high" if per_kg > 1e6 else "low"
        return {"per_kg": round(math.sqrt(per_kg) ** 2, 1), "band": band}

    assert impurities(dose) == []
    registered_dose = computation(
        "test.pure.dose", inputs=("cells", "weight_kg"), outputs=("per_kg", "band")
    )(dose)
    assert registered_dose({"cells": 4e8, "weight_kg": 80.0})["band"] == "high"
