"""A Mermaid flowchart of a compiled definition, for reviewers and the docs."""

from __future__ import annotations

from workflows.definition import CompiledDefinition
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


def _node(step: Step) -> str:
    label = f"{step.name}<br/><i>{step.kind}</i>"
    if isinstance(step, Branch):
        return f'{step.name}{{{{"{label}<br/>{step.by} {step.on}"}}}}'
    if isinstance(step, End):
        return f'{step.name}((("{step.name}<br/>ends: {step.outcome}")))'
    if isinstance(step, Gate):
        label += "<br/>" + ", ".join(r.value for r in step.roles)
        return f'{step.name}{{"{label}"}}'
    if isinstance(step, Handoff):
        return f'{step.name}[/"{label}<br/>{step.container}"/]'
    if isinstance(step, WaitFor):
        return f'{step.name}(["{label}<br/>{step.event}"])'
    if isinstance(step, Compute):
        return f'{step.name}[/"{label}<br/>{step.function}"\\]'
    if isinstance(step, Task):
        return f'{step.name}["{label}"]'
    return f'{step.name}[["{label}"]]'


def to_mermaid(defn: CompiledDefinition) -> str:
    """The definition as a Mermaid `flowchart TD`: stages are subgraphs, holds dotted edges."""
    lines = ["flowchart TD", f"  %% {defn.product} {defn.version} {defn.content_hash[:12]}"]
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
            again = f'"{step.until} short: again, max {step.max_times}"'
            lines.extend(f"{indent}{end} -. {again} .-> {step.steps[0].name}" for end in cur)
            return cur
        lines.append(indent + _node(step))
        arrow = f'-- "{label}" -->' if label else "-->"
        lines.extend(f"{indent}{p} {arrow} {step.name}" for p in prev)
        lines.extend(f'{indent}{src} -- "{case}" --> {step.name}' for src, case in pending)
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
                cur, case_label = [step.name], case
                for inner in steps:
                    cur, case_label = emit(inner, indent, cur, case_label), ""
                if not steps:
                    # An empty case goes straight on: the next step gets a labelled edge too.
                    straight_on.append((step.name, case))
                else:
                    out += cur
            pending.extend(straight_on)
            return out
        return [step.name]

    for st in defn.stages:
        lines.append(f'  subgraph {st.name}["{st.name}"]')
        for step in st.steps:
            last = emit(step, "    ", last)
        lines.append("  end")
    for h in holds:
        bounds = " ".join(
            f"{word} {value}" for word, value in (("min", h.min), ("max", h.max)) if value
        )
        lines.append(f'  {h.start} -. "hold {h.name} {bounds}" .-> {h.end}')
    return "\n".join(lines) + "\n"
