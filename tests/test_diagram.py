"""The Mermaid diagram of every product: ids never collide, durations read like vein2vein's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from definitions import CATALOG, IN_VIVO_PATIENT
from tests.products import TEST_PRODUCTS
from vein2vein.readable import duration
from workflows import call, days, hold, hours, minutes, process, stage, task
from workflows.definition import CompiledDefinition
from workflows.diagram import _text, to_mermaid
from workflows.durations import duration_text

EVERY_PRODUCT = {**CATALOG, **TEST_PRODUCTS}
_SUBGRAPH = re.compile(r"^\s*subgraph (\S+?)\[")
_NODE = re.compile(r"^\s*(\w+)(?:\[|\(|\{)")
_EDGE = re.compile(r"^\s*(\w+) (?:-->|-- \"[^\"]*\" -->|-\. \"[^\"]*\" \.->) (\w+)$")
#: Mermaid flowchart keywords that cannot be node ids.
_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "click", "default"}


def _ids(text: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    nodes, subgraphs, edges = [], [], []
    for line in text.splitlines():
        if m := _SUBGRAPH.match(line):
            subgraphs.append(m.group(1))
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        elif m := _NODE.match(line):
            nodes.append(m.group(1))
    return nodes, subgraphs, edges


@pytest.mark.parametrize("product", sorted(EVERY_PRODUCT))
def test_ids_are_unique_across_nodes_and_subgraphs(product: str) -> None:
    text = to_mermaid(EVERY_PRODUCT[product])
    nodes, subgraphs, edges = _ids(text)
    assert nodes and subgraphs
    assert len(set(nodes)) == len(nodes), "a step is drawn twice"
    assert len(set(subgraphs)) == len(subgraphs)
    assert not set(nodes) & set(subgraphs), "a node id equals a subgraph id"
    assert not (set(nodes) | set(subgraphs)) & _RESERVED
    for src, dst in edges:
        assert src in nodes and dst in nodes, f"edge {src} -> {dst} names an undrawn node"


@pytest.mark.parametrize("product", sorted(EVERY_PRODUCT))
def test_durations_print_like_vein2vein(product: str) -> None:
    text = to_mermaid(EVERY_PRODUCT[product])
    assert "days, " not in text and "day, " not in text
    assert not re.search(r"\b\d+:\d\d:\d\d\b", text), "raw timedelta text in the diagram"


def test_the_in_vivo_stage_and_branch_called_eligibility_get_distinct_ids() -> None:
    text = to_mermaid(IN_VIVO_PATIENT)
    assert 'subgraph stage_eligibility["eligibility"]' in text
    assert "step_eligibility{{" in text
    assert '-. "hold dilution_to_administration max 4 h" .->' in text


def _one_stage(*steps: object) -> CompiledDefinition:
    return process(
        "test-diagram",
        version="1",
        title="diagram",
        specification={},
        stages=[stage("end", *steps)],  # type: ignore[arg-type]
    )


def test_reserved_words_and_quotes_in_names_cannot_break_the_text() -> None:
    ok = call("book_slot", timeout=minutes(1), attempts=2)
    defn = _one_stage(
        task("end", ok),
        hold("end_to_after", start="end", end="after", max=days(2), min=hours(1)),
        task("after", ok),
    )
    text = to_mermaid(defn)
    nodes, subgraphs, _ = _ids(text)
    assert "end" not in nodes and "end" not in subgraphs
    assert '"hold end_to_after min 1 h max 2 d"' in text
    assert _text('a"b<i>#1&') == "a#quot;b#lt;i#gt;#35;1#amp;"


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (timedelta(seconds=0), "0 s"),
        (timedelta(seconds=59), "59 s"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=4), "4 h"),
        (timedelta(hours=2, minutes=30), "2 h 30 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=14, hours=3), "14 d 3 h"),
        (timedelta(days=-1, hours=2), "22 h"),
    ],
)
def test_one_duration_format_for_diagrams_and_people(d: timedelta, text: str) -> None:
    assert duration_text(d) == duration(d) == text
