"""The workflow runner every worker and replayer uses: Temporal's sandbox, with the modules of
`workflows.sandbox` passed through, and serialization contexts answered without a sandbox trip.

Why the second part: for every payload of every activation and completion (an activity's input
and result, an update's argument, the start input) the SDK asks the workflow instance which
serialization context applies. The sandboxed instance answers by compiling and executing a
snippet of code inside the sandbox, under its import hooks: about nine in ten of a replay's
trips into the sandbox, and most of what replaying a batch cost besides the batch's own code
(`benchmarks.replay`). The answer is pure bookkeeping of the workflow instance (which activity
a command is, the workflow's id), computed by the same in-sandbox object either way; here it is
asked directly. `tests/test_workflow_runner.py` holds the two answers equal, so an SDK upgrade
that changes the private class this relies on fails the suite rather than a deployment
(temporalio is pinned to 1.35.x in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance

from workflows.sandbox import PASSTHROUGH

#: The name the sandbox gives its in-sandbox instance in the instance's globals.
_IN_SANDBOX = "__temporal_in_sandbox"


class _DirectContexts(_Instance):
    """A sandboxed workflow instance that answers context questions without `exec`."""

    def _in_sandbox(self) -> Any:
        return self.globals_and_locals[_IN_SANDBOX]

    def get_serialization_context(self, command_info: CommandInfo | None) -> Any:
        """The serialization context for a command's payloads, as the sandboxed instance
        computes it."""
        return self._in_sandbox().get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> Any:
        """The external-storage context for a command's payloads, likewise."""
        return self._in_sandbox().get_external_store_context(command_info)


class BatchRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` whose instances answer context questions directly."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """A sandboxed instance, as the SDK makes it, with direct context answers."""
        return _DirectContexts(det, self.runner_class, self.restrictions)


def batch_runner() -> BatchRunner:
    """The runner for vein2vein's workflows: sandboxed, `workflows.sandbox.PASSTHROUGH` shared."""
    return BatchRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )
