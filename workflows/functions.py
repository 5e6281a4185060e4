"""Deterministic Python a product registers to compute values inside the workflow.

A process engineer writes a pure function from named inputs (results recorded earlier, the
order's `weight_kg`, order options) to named outputs, and decorates it::

    @computation("hsc.cd34_dose", inputs=("cd34_cells", "weight_kg"), outputs=("cd34_per_kg",))
    def cd34_dose(v: Mapping[str, Value]) -> dict[str, Value]:
        return {"cd34_per_kg": float(v["cd34_cells"]) / float(v["weight_kg"])}

A `compute` step runs it in the workflow; its inputs and outputs are recorded and the outputs
judged against the specification like any result. The definition pins the function's source
hash, which also covers the module constants it reads (numbers, texts, tuples of them): a batch
that started with one version of the function refuses (as a deviation) to run a changed one.
The function must be pure: no clock, randomness, I/O or global state, because it runs again,
with the same inputs, every time the batch's history is replayed; registration refuses one
that is not (`workflows.purity`).

This module is shared with the workflow sandbox (`workflows.sandbox`), so the registry the
worker filled when it imported the products is the one every batch sees.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workflows.purity import code_objects, is_plain, require_pure

#: What a computation takes and gives: numbers or short texts, like any recorded result.
Value = float | str

#: Fields of the order a computation may read, besides results and options.
ORDER_INPUTS = ("weight_kg",)


@dataclass(frozen=True)
class Computation:
    """A registered product function and what it reads and writes."""

    name: str
    fn: Callable[[Mapping[str, Value]], Mapping[str, Value]]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    source_sha256: str
    defaults: Mapping[str, Value] = field(default_factory=dict)

    def __call__(self, inputs: Mapping[str, Value]) -> dict[str, Value]:
        """Run the function; raises ValueError when it breaks its declared outputs."""
        out = dict(self.fn(inputs))
        if set(out) != set(self.outputs):
            raise ValueError(f"{self.name} returned {sorted(out)}, declared {list(self.outputs)}")
        bad = [k for k, v in out.items() if not isinstance(v, float | int | str)]
        if bad:
            raise ValueError(f"{self.name}: {', '.join(bad)} must be numbers or text")
        return {k: float(v) if isinstance(v, int) else v for k, v in out.items()}


_REGISTRY: dict[str, Computation] = {}

_ABSENT = object()


def _names(code: object) -> set[str]:
    """Global names a function's code (and the code nested in it) reads."""
    if not isinstance(code, types.CodeType):
        return set()
    return {name for part in code_objects(code) for name in part.co_names}


def fingerprint(fn: Callable[..., object]) -> str:
    """What a definition pins of a function: its source and, because a dose's factor usually
    lives in a module constant, the values of the constants it reads. A function that reads
    none hashes as its source alone."""
    digest = hashlib.sha256(inspect.getsource(fn).encode())
    module_globals = getattr(fn, "__globals__", {})
    for name in sorted(_names(getattr(fn, "__code__", None))):
        value = module_globals.get(name, _ABSENT)  # builtins are not module globals
        if value is not _ABSENT and is_plain(value):
            digest.update(f"\n{name}={value!r}".encode())
    return digest.hexdigest()


def computation(
    name: str,
    *,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    defaults: Mapping[str, Value] | None = None,
) -> Callable[[Callable[[Mapping[str, Value]], Mapping[str, Value]]], Computation]:
    """Register a product function under `name` (conventionally "product.what"). An input
    in `defaults` may be unknown when the step runs (a running total's first round); the
    decorator is part of the source the definition pins."""

    def register(fn: Callable[[Mapping[str, Value]], Mapping[str, Value]]) -> Computation:
        require_pure(name, fn)
        c = Computation(
            name=name,
            fn=fn,
            inputs=inputs,
            outputs=outputs,
            source_sha256=fingerprint(fn),
            defaults=dict(defaults or {}),
        )
        known = _REGISTRY.get(name)
        if known is not None and known.source_sha256 != c.source_sha256:
            raise ValueError(f"computation '{name}' is registered twice with different code")
        _REGISTRY[name] = c
        return c

    return register


def registered(name: str) -> Computation | None:
    """The computation registered under `name`, if any."""
    return _REGISTRY.get(name)
