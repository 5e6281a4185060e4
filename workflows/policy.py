"""The one place that turns a step's `Policy` into Temporal activity options."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.language import Policy
from workflows.vocabulary import BusinessError

#: Error types an activity raises for business failures; they are never retried.
BUSINESS_ERROR_TYPES = frozenset(e.value for e in BusinessError)


#: A call heartbeats every second while it runs (`activities.runtime`; the worker sends each
#: on, `vein2vein.worker.HEARTBEAT_EVERY`); one silent this long is taken as lost with its
#: worker and tried again, not only after its whole timeout. After a worker dies, the batches
#: whose call it held wait this long before anything else can happen (README, Performance);
#: four missed heartbeats in a row on a live worker are needed for a spurious retry, which
#: the call's idempotency key makes harmless.
CALL_HEARTBEAT_TIMEOUT = timedelta(seconds=5)


class ActivityOptions(TypedDict):
    """Keyword arguments for `workflow.execute_activity`."""

    start_to_close_timeout: timedelta
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy
    cancellation_type: ActivityCancellationType


def activity_options(policy: Policy) -> ActivityOptions:
    """Options bounded in time and attempts; validation guarantees both are set."""
    if policy.timeout is None or policy.attempts is None:
        raise ValueError("policy without timeout or attempts reached the interpreter")
    return ActivityOptions(
        start_to_close_timeout=policy.timeout,
        heartbeat_timeout=(
            CALL_HEARTBEAT_TIMEOUT if policy.timeout > CALL_HEARTBEAT_TIMEOUT else None
        ),
        # On withdrawal, do not wait for calls in flight: the step's compensation (registered
        # when the step started, idempotent by key) undoes whatever they did.
        cancellation_type=ActivityCancellationType.ABANDON,
        retry_policy=RetryPolicy(
            initial_interval=policy.first_retry_after,
            backoff_coefficient=policy.backoff,
            maximum_interval=policy.max_retry_interval,
            maximum_attempts=policy.attempts,
            non_retryable_error_types=sorted(BUSINESS_ERROR_TYPES),
        ),
    )
