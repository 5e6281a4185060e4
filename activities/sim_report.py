"""The simulated outside world reporting back later, as a durable Temporal workflow.

A real courier, MES or LIMS reports days after it was asked. The simulated adapter schedules
each such report as a small workflow the server starts after the delay (a workflow start
delay, durable like a timer, so time-skipping tests and crashes behave like the real world);
it delivers the report through the same client call an integration service uses
(`workflows.client.report_event`). A report scheduled before start delays were used carries
its delay in its input and sleeps for it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.model import ExternalEvent

REPORT_WORKFLOW = "vein2vein-simulated-report"


class ScheduledReport(BaseModel):
    """A report the outside world will make after `delay`; `occurred_at` is set on delivery.
    The workflow sleeps for `delay` (zero when the server already held it back)."""

    model_config = ConfigDict(frozen=True)

    delay: timedelta
    event: ExternalEvent


@workflow.defn(name=REPORT_WORKFLOW)
class SimulatedReport:
    """Waits `delay`, then delivers the report to the batch."""

    @workflow.run
    async def run(self, report: ScheduledReport) -> str:
        """Sleep durably, stamp the time, deliver; returns the delivery outcome."""
        if report.delay > timedelta(0):
            await workflow.sleep(report.delay)
        event = report.event.model_copy(update={"occurred_at": workflow.now()})
        result: str = await workflow.execute_activity(
            "deliver_report",
            event,
            # The delivery heartbeats while it waits on the batch: one that died with its
            # worker is retried after 3 s, as an integration retries a call that went silent.
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(
                maximum_attempts=20,
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=30),
                non_retryable_error_types=["ReportRefused"],
            ),
        )
        return result
