"""What the workflow sandbox shares with the host instead of importing afresh per batch.

Temporal's sandbox re-imports every module a workflow uses for each workflow run it creates
(a new batch, a batch replayed after a restart or a cache eviction). For vein2vein that was
most of what a batch cost: about 55 ms of worker CPU to create each run and a few hundred KiB
of module objects held by every cached batch. The whole `workflows` package is therefore
passed through: imported once, shared by every batch.

That is safe because nothing in it keeps mutable module state a batch could leak into another
(the engine's state lives in each run's `BatchState`; `workflows.registry` only caches the
workflow classes it makes; `workflows.keyring` and `workflows.functions` are the worker's
registries of trusted keys and product functions, shared on purpose). What the sandbox no
longer does for the engine, refusing a host clock or random number at run time, a static test
does instead (`tests/test_engine_determinism.py`); the replay tests catch the rest.
"""

from __future__ import annotations

#: Third-party modules: deterministic, slow to import, or C extensions that must load once.
THIRD_PARTY = ("cryptography", "pydantic", "pydantic_core", "annotated_types")

#: This package: the language, the record, the rules over them, and the engine; and the
#: simulated world's report workflow (one per simulated report, so its imports were paid once
#: per report), which keeps no module state either.
OWN = ("workflows", "activities.sim_report")

#: Everything `SandboxRestrictions.with_passthrough_modules` is given.
PASSTHROUGH = (*THIRD_PARTY, *OWN)
