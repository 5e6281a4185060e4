"""The hand-written temporalio workflow the overhead benchmark measures vein2vein against.

Its own module, importing only temporalio and the call models, as a team writing it by hand
would: the workflow sandbox re-imports the module a workflow is defined in.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.model import StepCall, StepOutput

#: Outside-world calls per batch, on both sides.
STEPS = 6


@workflow.defn(name="raw-six-calls")
class RawSixCalls:
    """The hand-written equivalent: six activity calls in a row."""

    @workflow.run
    async def run(self, batch_id: str) -> str:
        """Call the site six times."""
        for n in range(1, STEPS + 1):
            await workflow.execute_activity(
                "raw_step",
                StepCall(
                    batch_id=batch_id,
                    product="raw",
                    step=f"step{n}",
                    activity="raw_step",
                    idempotency_key=f"{batch_id}:step{n}",
                    site_role="manufacturing_site",
                    site="MFG-EAST",
                    order_id="raw",
                ),
                result_type=StepOutput,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        return "done"
