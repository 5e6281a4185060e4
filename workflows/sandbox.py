"""What the workflow sandbox shares with the host instead of importing afresh per batch.

Temporal's sandbox re-imports every module a workflow uses for each workflow run it creates
(a new batch, a batch replayed after a restart or a cache eviction). Building the pydantic
models of the language and the record again is most of a replay's cost, so the modules that
are pure (no Temporal workflow calls, no I/O, no mutable module state) are passed through.
The engine itself (`workflows.engine`, `workflows.registry`) stays sandboxed.

`workflows.keyring` and `workflows.functions` are shared on purpose: the worker's registry of
trusted keys, and of the product functions it imported with the products. A
test (`tests/test_layering.py`) checks that a pure module imports no sandboxed one.
"""

from __future__ import annotations

#: Third-party modules: deterministic, slow to import, or C extensions that must load once.
THIRD_PARTY = ("cryptography", "pydantic", "pydantic_core", "annotated_types")

#: Pure modules of this package: the language, the record, and the rules over them.
PURE = (
    "workflows.vocabulary",
    "workflows.language",
    "workflows.authoring",
    "workflows.model",
    "workflows.record",
    "workflows.catalog",
    "workflows.content",
    "workflows.functions",
    "workflows.definition",
    "workflows.validation",
    "workflows.validation_kinds",
    "workflows.judgement",
    "workflows.authority",
    "workflows.policy",
    "workflows.status",
    "workflows.coi",
    "workflows.signatures",
    "workflows.keyring",
)

#: Everything `SandboxRestrictions.with_passthrough_modules` is given.
PASSTHROUGH = (*THIRD_PARTY, *PURE)


def cache_bytecode() -> None:
    """Write the bytecode of the sandboxed modules (the engine), which every new workflow run
    imports afresh: with PYTHONDONTWRITEBYTECODE set, each run would compile them from source.
    A read-only install is left as it is (it should ship its bytecode)."""
    import compileall
    import contextlib
    from pathlib import Path

    here = Path(__file__).parent
    with contextlib.suppress(OSError):
        compileall.compile_dir(here / "engine", quiet=2)
        compileall.compile_file(here / "registry.py", quiet=2)
        compileall.compile_file(here / "__init__.py", quiet=2)
