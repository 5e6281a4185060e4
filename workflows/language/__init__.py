"""The process language: a small typed vocabulary for process, stage and step (after ISA-88).

A process engineer writes a product as a `process(...)` of `stage(...)`s, each a list of steps
made with the functions of `workflows.authoring` (re-exported by `workflows`); the values they
make are defined here. Every function returns a frozen pydantic value, so a
definition is plain data: it is hashed, validated, shipped in a batch's start input and
interpreted by one workflow (`workflows.engine`). Policies sit on the step they govern.

Step kinds:
    task      an activity (book a slot, allocate lots, notify)
    wait_for  ask an outside system to act, then wait for its report, with a deadline
    handoff   custody transfer the receiver verifies against the batch's COI and label
    gate      a human decision with the roles allowed, the meaning of the signature and the
              records that must exist first
    hold      the maximum time between two named steps, enforced by a durable timer
    parallel  steps that run at once (release assays)
    repeat    a bounded repeat until a result meets the specification (re-collection)
    decide    judge recorded results against the product's specification
    follow_up long-term follow-up visits on a schedule of durable timers
"""

from workflows.language.steps import (
    Branch,
    Compute,
    Decide,
    End,
    FollowUp,
    Gate,
    Handoff,
    Hold,
    Parallel,
    Repeat,
    Series,
    Stage,
    Step,
    Task,
    WaitFor,
    children,
)
from workflows.language.values import (
    CLASSIC_PARTIES,
    NAME_PATTERN,
    SYSTEM,
    ActivitySpec,
    Call,
    Limit,
    Option,
    ParamSpec,
    ParamValue,
    Party,
    Policy,
    Rework,
    TemperatureRange,
    celsius,
    days,
    hours,
    minutes,
    one_of,
    param_text,
    policy,
    within,
)

__all__ = [
    "CLASSIC_PARTIES",
    "NAME_PATTERN",
    "SYSTEM",
    "ActivitySpec",
    "Branch",
    "Call",
    "Compute",
    "Decide",
    "End",
    "FollowUp",
    "Gate",
    "Handoff",
    "Hold",
    "Limit",
    "Option",
    "Parallel",
    "ParamSpec",
    "ParamValue",
    "Party",
    "Policy",
    "Repeat",
    "Rework",
    "Series",
    "Stage",
    "Step",
    "Task",
    "TemperatureRange",
    "WaitFor",
    "celsius",
    "children",
    "days",
    "hours",
    "minutes",
    "one_of",
    "param_text",
    "policy",
    "within",
]
