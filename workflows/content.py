"""What a hash of a definition or a batch record covers, so the language and the record can
grow without changing the identity of anything that already exists.

A definition's hash pins a batch to it, and a record's hash is what a person signs. Both are
SHA-256 over a canonical JSON view. A field added to a model after hashes were first issued
is declared with `added(...)`: the view leaves it out while it holds its default, so an old
definition or a record that never used the new feature hashes exactly as before (and the
committed replay histories, whose signed decisions carry those hashes, still replay).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

_MARK = "content_when_default"


def added(default: Any = None, *, description: str = "", **kw: Any) -> Any:
    """A field added after hashes were first issued: hashed only when it is not `default`."""
    extra: JsonDict = {_MARK: False}
    if "default_factory" in kw:
        return Field(description=description, json_schema_extra=extra, **kw)
    return Field(default=default, description=description, json_schema_extra=extra, **kw)


def _added_default(model: type[BaseModel], name: str) -> tuple[bool, Any]:
    info = model.model_fields[name]
    extra = info.json_schema_extra
    if not isinstance(extra, dict) or extra.get(_MARK, True) is not False:
        return False, None
    return True, info.get_default(call_default_factory=True)


def view(
    model: BaseModel, *, exclude: frozenset[str] = frozenset(), drop_none: bool = False
) -> Any:
    """The JSON-able view of `model` that its hash covers."""
    dumped = model.model_dump(mode="json", exclude=set(exclude))
    return _prune(model, dumped, drop_none)


def _prune(model: BaseModel, dumped: dict[str, Any], drop_none: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in dumped.items():
        current = getattr(model, name)
        is_added, default = _added_default(type(model), name)
        if is_added and current == default:
            continue
        if drop_none and value is None:
            continue
        out[name] = _prune_value(current, value, drop_none)
    return out


def _prune_value(current: Any, value: Any, drop_none: bool) -> Any:
    if isinstance(current, BaseModel) and isinstance(value, dict):
        return _prune(current, value, drop_none)
    if isinstance(current, list | tuple) and isinstance(value, list):
        return [_prune_value(c, v, drop_none) for c, v in zip(current, value, strict=True)]
    if isinstance(current, dict) and isinstance(value, dict):
        return {k: _prune_value(current[k], v, drop_none) for k, v in value.items()}
    return value


def digest(
    model: BaseModel, *, exclude: frozenset[str] = frozenset(), drop_none: bool = False
) -> str:
    """SHA-256 of `view(model)` as sorted JSON."""
    body = view(model, exclude=exclude, drop_none=drop_none)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
