"""A Mermaid flowchart of a compiled definition, for reviewers and the docs."""

from __future__ import annotations

from workflows.definition import CompiledDefinition
from workflows.language import Gate, Handoff, Hold, Parallel, Repeat, Step, Task, WaitFor


def _node(step: Step) -> str:
    label = f"{step.name}<br/><i>{step.kind}</i>"
    if isinstance(step, Gate):
        label += "<br/>" + ", ".join(r.value for r in step.roles)
        return f'{step.name}{{"{label}"}}'
    if isinstance(step, Handoff):
        return f'{step.name}[/"{label}<br/>{step.container}"/]'
    if isinstance(step, WaitFor):
        return f'{step.name}(["{label}<br/>{step.event}"])'
    if isinstance(step, Task):
        return f'{step.name}["{label}"]'
    return f'{step.name}[["{label}"]]'


def to_mermaid(defn: CompiledDefinition) -> str:
    """The definition as a Mermaid `flowchart TD`: stages are subgraphs, holds dotted edges."""
    lines = ["flowchart TD", f"  %% {defn.product} {defn.version} {defn.content_hash[:12]}"]
    holds: list[Hold] = []
    last: list[str] = []

    def emit(step: Step, indent: str, prev: list[str]) -> list[str]:
        if isinstance(step, Hold):
            holds.append(step)
            return prev
        if isinstance(step, Parallel):
            ends: list[str] = []
            for inner in step.steps:
                ends += emit(inner, indent, prev)
            return ends
        if isinstance(step, Repeat):
            cur = prev
            for inner in step.steps:
                cur = emit(inner, indent, cur)
            again = f'"{step.until} short: again, max {step.max_times}"'
            lines.extend(f"{indent}{end} -. {again} .-> {step.steps[0].name}" for end in cur)
            return cur
        lines.append(indent + _node(step))
        for p in prev:
            lines.append(f"{indent}{p} --> {step.name}")
        return [step.name]

    for st in defn.stages:
        lines.append(f'  subgraph {st.name}["{st.name}"]')
        for step in st.steps:
            last = emit(step, "    ", last)
        lines.append("  end")
    for h in holds:
        lines.append(f'  {h.start} -. "hold {h.name} max {h.max}" .-> {h.end}')
    return "\n".join(lines) + "\n"
