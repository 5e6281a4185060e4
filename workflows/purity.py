"""The check that a product function is pure before it may run inside a batch.

A computation (`workflows.functions`) runs in the workflow, and again, with the same inputs,
every time the batch's history is replayed: a function that read the clock, drew a random
number, did I/O or kept state would record one value and give another on replay. Temporal's
sandbox stops `open` at run time, but not the clock or randomness: the product module was
imported by the worker, not inside the sandbox, so the modules it names are the host's, not
the sandbox's guarded copies. This check stops all of them, for every product, when the
function is registered: from its bytecode it lists every global the function (and any function
or comprehension nested in it) reads or writes, every import it makes and every value its
closure and defaults hold, and refuses anything but numbers and texts, `math` and a short list
of pure builtins.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import types
from collections.abc import Callable, Iterator

#: Builtins a computation may use: conversions, arithmetic and the errors it may raise.
PURE_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "enumerate",
        "float",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "pow",
        "range",
        "round",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "ArithmeticError",
        "KeyError",
        "ValueError",
        "ZeroDivisionError",
    }
)
#: Modules a computation may read from: functions of their arguments alone.
PURE_MODULES = frozenset({"math"})

_READS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_WRITES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME", "DELETE_NAME"})


class ImpureFunction(ValueError):
    """A product function that could give a different value on replay."""


def code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """A function's code and the code of every function or comprehension nested in it."""
    yield code
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from code_objects(const)


def is_plain(value: object) -> bool:
    """A number, a text, None, or a tuple or frozenset of them: nothing a call could change."""
    if isinstance(value, tuple | frozenset):
        return all(is_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def _allowed_global(name: str, fn_globals: dict[str, object]) -> bool:
    if name in fn_globals:
        value = fn_globals[name]
        if isinstance(value, types.ModuleType):
            return value.__name__ in PURE_MODULES
        return is_plain(value)
    return name in PURE_BUILTINS and hasattr(builtins, name)


def impurities(fn: Callable[..., object]) -> list[str]:
    """Why `fn` may not run in a batch, one line per reason; empty when it is pure."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return ["it is not a Python function"]
    fn_globals: dict[str, object] = getattr(fn, "__globals__", {})
    found: list[str] = []
    for part in code_objects(code):
        for ins in dis.get_instructions(part):
            name = str(ins.argval)
            if ins.opname == "IMPORT_NAME":
                found.append(f"imports '{name}'")
            elif ins.opname in _WRITES:
                found.append(f"changes the global '{name}'")
            elif ins.opname in _READS and not _allowed_global(name, fn_globals):
                found.append(f"reads '{name}'")
    for cell in getattr(fn, "__closure__", None) or ():
        if not is_plain(cell.cell_contents):
            found.append(f"keeps {type(cell.cell_contents).__name__} in its closure")
    for default in (getattr(fn, "__defaults__", None) or ()) + tuple(
        (getattr(fn, "__kwdefaults__", None) or {}).values()
    ):
        if not is_plain(default):
            found.append(f"has a {type(default).__name__} default")
    return sorted(set(found))


def require_pure(name: str, fn: Callable[..., object]) -> None:
    """Refuse a product function that is not pure, naming everything that makes it so."""
    found = impurities(fn)
    if found:
        raise ImpureFunction(
            f"computation '{name}' {'; '.join(found)}: a computation runs again on every "
            "replay, so it may read only its inputs, numbers and texts, "
            f"{', '.join(sorted(PURE_MODULES))} and the builtins "
            f"{', '.join(sorted(PURE_BUILTINS))}"
        )
