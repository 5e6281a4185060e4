"""One Temporal workflow type per product, all running the same interpreter.

`workflow_type("autologous-cd19-car-t")` returns a `BatchInterpreter` subclass registered under
the product's name. Classes are made on demand and reachable as attributes of this module, so
the workflow sandbox, which re-imports this module and looks the class up by name, finds the
same class again (module `__getattr__`, PEP 562).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.engine import BatchInterpreter
from workflows.model import BatchOutcome, BatchStart

_PREFIX = "Batch_"


def workflow_type(product: str) -> type[BatchInterpreter]:
    """The workflow class for `product`, made once per process."""
    attr = _PREFIX + product.replace("-", "_")
    existing = globals().get(attr)
    if existing is not None:
        return existing  # type: ignore[no-any-return]

    async def run(self: BatchInterpreter, start: BatchStart) -> BatchOutcome:
        return await self.interpret(start)

    # Resolved types, not strings: the SDK reads them to convert the start input.
    run.__annotations__ = {"start": BatchStart, "return": BatchOutcome}
    run.__qualname__ = f"{attr}.run"
    run.__doc__ = f"Run one batch of {product}."
    cls = type(attr, (BatchInterpreter,), {"run": workflow.run(run), "__module__": __name__})
    cls.__qualname__ = attr
    defined = workflow.defn(name=product)(cls)
    globals()[attr] = defined
    return defined


def __getattr__(name: str) -> Any:
    if name.startswith(_PREFIX):
        # Product names never contain "_" (see PRODUCT_PATTERN), so this inverts the mapping.
        return workflow_type(name[len(_PREFIX) :].replace("_", "-"))
    raise AttributeError(name)
