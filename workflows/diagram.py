"""A Mermaid flowchart of a compiled definition, for reviewers, the console and the docs.

Node and subgraph ids are generated, never the bare names: Mermaid refuses a node whose id is
also a subgraph's (the in vivo product has a stage and a branch both called `eligibility`) and
reserves words such as `end`. Steps get `step_`, stages `stage_`; names are shown in the labels,
escaped with Mermaid's entity codes so that a quote or a bracket in a name cannot break out.
"""

from __future__ import annotations

import re

from workflows.definition import CompiledDefinition
from workflows.durations import duration_text
from workflows.language import (
    Branch,
    Compute,
    End,
    Gate,
    Handoff,
    Hold,
    Parallel,
    Repeat,
    Step,
    Task,
    WaitFor,
)

__all__ = ["to_mermaid"]

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]")
# '#' first: the other codes start with it.
_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("&", "#amp;"), ("<", "#lt;"), (">", "#gt;"))


def _text(value: object) -> str:
    """Text for inside a quoted Mermaid label: entity codes for what Mermaid would parse."""
    text = " ".join(str(value).split())
    for char, code in _ENTITIES:
        text = text.replace(char, code)
    return text


class _Ids:
    """Mermaid ids for step and stage names: prefixed, sanitised, unique across both kinds."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()

    def step(self, name: str) -> str:
        return self._id("step", name)

    def stage(self, name: str) -> str:
        return self._id("stage", name)

    def _id(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self._ids:
            base = f"{kind}_{_UNSAFE_ID.sub('_', name)}"
            candidate, n = base, 1
            while candidate in self._used:  # two names that sanitise alike
                n += 1
                candidate = f"{base}_{n}"
            self._used.add(candidate)
            self._ids[key] = candidate
        return self._ids[key]


def _node(node_id: str, step: Step) -> str:
    label = f"{_text(step.name)}<br/><i>{_text(step.kind)}</i>"
    if isinstance(step, Branch):
        return f'{node_id}{{{{"{label}<br/>{_text(step.by)} {_text(step.on)}"}}}}'
    if isinstance(step, End):
        return f'{node_id}((("{_text(step.name)}<br/>ends: {_text(step.outcome)}")))'
    if isinstance(step, Gate):
        label += "<br/>" + _text(", ".join(r.value for r in step.roles))
        return f'{node_id}{{"{label}"}}'
    if isinstance(step, Handoff):
        return f'{node_id}[/"{label}<br/>{_text(step.container)}"/]'
    if isinstance(step, WaitFor):
        return f'{node_id}(["{label}<br/>{_text(step.event)}"])'
    if isinstance(step, Compute):
        return f'{node_id}[/"{label}<br/>{_text(step.function)}"\\]'
    if isinstance(step, Task):
        return f'{node_id}["{label}"]'
    return f'{node_id}[["{label}"]]'


def _hold_label(h: Hold) -> str:
    limits = (("min", h.min), ("max", h.max))
    bounds = " ".join(f"{word} {duration_text(value)}" for word, value in limits if value)
    return _text(f"hold {h.name} {bounds}".strip())


def to_mermaid(defn: CompiledDefinition) -> str:
    """The definition as a Mermaid `flowchart TD`: stages are subgraphs, holds dotted edges."""
    ids = _Ids()
    lines = [
        "flowchart TD",
        f"  %% {_text(defn.product)} {_text(defn.version)} {defn.content_hash[:12]}",
    ]
    holds: list[Hold] = []
    last: list[str] = []
    pending: list[tuple[str, str]] = []

    def emit(step: Step, indent: str, prev: list[str], label: str = "") -> list[str]:
        if isinstance(step, Hold):
            holds.append(step)
            return prev
        if isinstance(step, Parallel):
            ends: list[str] = []
            for inner in step.steps:
                ends += emit(inner, indent, prev, label)
            return ends
        if isinstance(step, Repeat):
            cur = prev
            for inner in step.steps:
                cur = emit(inner, indent, cur)
            again = _text(f"{step.until} short: again, max {step.max_times}")
            first = ids.step(step.steps[0].name)
            lines.extend(f'{indent}{end} -. "{again}" .-> {first}' for end in cur)
            return cur
        me = ids.step(step.name)
        lines.append(indent + _node(me, step))
        arrow = f'-- "{_text(label)}" -->' if label else "-->"
        lines.extend(f"{indent}{p} {arrow} {me}" for p in prev)
        lines.extend(f'{indent}{src} -- "{_text(case)}" --> {me}' for src, case in pending)
        pending.clear()
        if isinstance(step, End):
            return []
        if isinstance(step, Branch):
            out: list[str] = []
            straight_on: list[tuple[str, str]] = []
            cases = [
                *step.cases.items(),
                *([("otherwise", step.otherwise)] if step.otherwise else []),
            ]
            for case, steps in cases:
                cur, case_label = [me], case
                for inner in steps:
                    cur, case_label = emit(inner, indent, cur, case_label), ""
                if not steps:
                    # An empty case goes straight on: the next step gets a labelled edge too.
                    straight_on.append((me, case))
                else:
                    out += cur
            pending.extend(straight_on)
            return out
        return [me]

    for st in defn.stages:
        lines.append(f'  subgraph {ids.stage(st.name)}["{_text(st.name)}"]')
        for step in st.steps:
            last = emit(step, "    ", last)
        lines.append("  end")
    lines.extend(
        f'  {ids.step(h.start)} -. "{_hold_label(h)}" .-> {ids.step(h.end)}' for h in holds
    )
    return "\n".join(lines) + "\n"
