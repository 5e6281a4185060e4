"""The durable engine: the process language and the Temporal workflow that interprets it.

Process engineers import the vocabulary from here::

    from workflows import process, stage, task, wait_for, handoff, gate, hold, ...
"""

from workflows.authoring import (
    activity,
    branch,
    call,
    compute,
    decide,
    end,
    follow_up,
    gate,
    handoff,
    hold,
    option,
    parallel,
    param,
    party,
    repeat,
    rework,
    series,
    stage,
    task,
    wait_for,
)
from workflows.definition import CompiledDefinition, DefinitionError, Violation, process, validate
from workflows.functions import Value, computation
from workflows.language import (
    Call,
    Limit,
    Policy,
    celsius,
    days,
    hours,
    minutes,
    one_of,
    policy,
    within,
)
from workflows.model import Role
from workflows.slots import leg, slot_chain
from workflows.vocabulary import PartyKind, ProductCategory

__all__ = [
    "Call",
    "CompiledDefinition",
    "DefinitionError",
    "Limit",
    "PartyKind",
    "Policy",
    "ProductCategory",
    "Role",
    "Value",
    "Violation",
    "activity",
    "branch",
    "call",
    "celsius",
    "computation",
    "compute",
    "days",
    "decide",
    "end",
    "follow_up",
    "gate",
    "handoff",
    "hold",
    "hours",
    "leg",
    "minutes",
    "one_of",
    "option",
    "parallel",
    "param",
    "party",
    "policy",
    "process",
    "repeat",
    "rework",
    "series",
    "slot_chain",
    "stage",
    "task",
    "validate",
    "wait_for",
    "within",
]
