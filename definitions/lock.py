"""The definition lock: every released version of every product with its content hash.

A definition's content hash changes with anything a batch would do differently. Change control
means such a change gets a new version: a locked version whose hash no longer matches its
definition is a change that slipped past review, and a version not in the lock has not been
through it. `vein2vein definitions validate` and `make test` refuse both, naming the product;
`vein2vein definitions lock` adds new versions (never rewrites a locked one).

Older versions stay in the lock after a product moves on: batches started on them are pinned
to them for weeks, and their histories are replayed against the engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from workflows.definition import CompiledDefinition

__all__ = ["BUILT_IN_LOCK", "DefinitionLock", "LockRefused", "lock_problems"]

#: The lock of the products this package ships (a deployment names its own file with
#: `VEIN2VEIN_DEFINITION_LOCK`).
BUILT_IN_LOCK = Path(__file__).with_name("lock.json")


class LockRefused(ValueError):
    """A lock update that would rewrite a locked version's hash."""


class DefinitionLock(BaseModel):
    """product -> version -> content hash, for every version ever released."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    products: dict[str, dict[str, str]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> DefinitionLock:
        """The lock in `path`; an empty lock when the file does not exist yet."""
        if not path.exists():
            return cls()
        return cls.model_validate_json(path.read_text())

    def save(self, path: Path) -> None:
        """Write the lock, sorted so that a change reads as a one-line diff; atomically."""
        text = json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def locked(self, product: str, version: str) -> str | None:
        """The hash locked for `product` at `version`, or None."""
        return self.products.get(product, {}).get(version)

    def with_versions(self, definitions: Iterable[CompiledDefinition]) -> DefinitionLock:
        """This lock with every new version of `definitions` added. Raises `LockRefused`
        naming each locked version whose hash differs (it needs a new version instead)."""
        changed = [p for p in lock_problems(definitions, self) if "without a new version" in p]
        if changed:
            raise LockRefused("; ".join(changed))
        products = {p: dict(v) for p, v in self.products.items()}
        for d in definitions:
            products.setdefault(d.product, {})[d.version] = d.content_hash
        return DefinitionLock(products=products)


def lock_problems(definitions: Iterable[CompiledDefinition], lock: DefinitionLock) -> list[str]:
    """What keeps `definitions` from matching `lock`, one line per product version: a changed
    hash under a locked version, or a version not locked yet. Empty when all match."""
    problems = []
    for d in definitions:
        locked = lock.locked(d.product, d.version)
        if locked is None:
            problems.append(
                f"{d.product} {d.version} is not in the definition lock"
                " (review it, then run `vein2vein definitions lock`)"
            )
        elif locked != d.content_hash:
            problems.append(
                f"{d.product} {d.version} changed without a new version: locked"
                f" {locked[:12]}, now {d.content_hash[:12]} (give it a new version)"
            )
    return problems
