"""Products name their own parties and per-order options; orders are checked at intake."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError

from tests.harness import Harness, order
from tests.products import MANY_PARTIES, MANY_PARTY_SITES
from workflows import (
    DefinitionError,
    PartyKind,
    Role,
    call,
    gate,
    minutes,
    option,
    party,
    process,
    stage,
    task,
)
from workflows.client import OrderRefused, start_batch
from workflows.model import BatchStatus, DecisionAction, Order


async def test_calls_reach_the_site_the_order_names_for_each_party(harness: Harness) -> None:
    handle = await harness.start(
        MANY_PARTIES, sites=MANY_PARTY_SITES, options={"apheresis_mode": "cryopreserved"}
    )
    await harness.until_waiting(handle, "decision at release")
    await harness.decide(handle, "release", DecisionAction.APPROVE)
    rec = await harness.finish(handle)
    assert rec.status == BatchStatus.COMPLETED
    assert rec.options == {"apheresis_mode": "cryopreserved"}
    assert rec.parties["central_lab"] == PartyKind.LABORATORY
    assert rec.site_of_kind(PartyKind.APHERESIS_CENTRE) == "APH-WEST"
    sites = {
        step: harness.world.site_called(f"{handle.id}:{step}:{activity}:i1r0")
        for step, activity in [
            ("collection", "schedule_apheresis"),
            ("book_slot", "book_slot"),
            ("sterility_test", "request_release_test"),
        ]
    }
    assert sites == {
        "collection": "APH-WEST",
        "book_slot": "MFG-EAST",
        "sterility_test": "LAB-CENTRAL",
    }


async def test_an_option_left_out_takes_its_default(harness: Harness) -> None:
    handle = await harness.start(MANY_PARTIES, sites=MANY_PARTY_SITES)
    rec = await harness.until_waiting(handle, "collection")
    assert rec.options == {"apheresis_mode": "fresh"}


@pytest.mark.parametrize(
    ("sites", "options", "problem"),
    [
        ({k: v for k, v in MANY_PARTY_SITES.items() if k != "central_lab"}, {}, "central_lab"),
        ({**MANY_PARTY_SITES, "pharmacy": "PHARM-NORTH"}, {}, "'pharmacy' is not a party"),
        (MANY_PARTY_SITES, {"apheresis_mode": "frozen"}, "not 'frozen'"),
        (MANY_PARTY_SITES, {"shipping": "air"}, "'shipping' is not an option"),
    ],
)
async def test_an_order_that_does_not_fit_its_product_starts_nothing(
    harness: Harness, sites: dict[str, str], options: dict[str, str], problem: str
) -> None:
    o = order(sites=sites, options=options)
    with pytest.raises(OrderRefused, match=problem):
        await start_batch(harness.client, MANY_PARTIES, o, batch_id="B-REFUSED0001")
    with pytest.raises(RPCError):
        await harness.client.get_workflow_handle("B-REFUSED0001").describe()


def test_a_required_option_must_be_chosen() -> None:
    defn = process(
        "test-required-option",
        version="1",
        title="t",
        specification={},
        options=[option("route", "iv", "intrathecal")],
        stages=[stage("s", gate("g", roles=(Role.QA,), meaning="ok"))],
    )
    assert defn.order_problems({**_classic()}, {}) == [
        "option 'route' must be chosen (iv, intrathecal)"
    ]


def _classic() -> dict[str, str]:
    return {"treatment_centre": "TC", "manufacturing_site": "MFG", "courier": "C"}


def _errors(**kw: object) -> list[str]:
    with pytest.raises(DefinitionError) as err:
        process("test-bad", version="1", title="t", specification={}, **kw)  # type: ignore[arg-type]
    return [f"{v.step}: {v.rule}: {v.message}" for v in err.value.violations]


def test_parties_and_options_are_checked_when_the_product_compiles() -> None:
    lab = party("lab", PartyKind.LABORATORY)
    errors = _errors(
        parties=[lab, lab, party("system", PartyKind.DEPOT)],
        options=[option("mode", "a", "b", default="c"), option("solo", "x")],
        stages=[
            stage(
                "s",
                task("t", call("notify", at="pharmacy", timeout=minutes(1), attempts=2)),
            )
        ],
    )
    assert errors == [
        "-: duplicate party: party 'lab' is declared twice",
        "-: reserved party name: 'system' means vein2vein itself",
        "-: bad option: option 'mode': default 'c' is not a choice",
        "-: bad option: option 'solo' needs two or more distinct choices",
        "t: unknown party: activity 'notify' is addressed to 'pharmacy', which is not a party "
        "of the product (parties: lab, system; or 'system')",
    ]


def test_an_order_may_still_name_the_classic_parties_in_fields_of_their_own() -> None:
    fields = {"order_id": "ORD-1", "patient_pseudonym": "PSN-000001"}
    o = Order(**fields, treatment_centre="TC-SOUTH", courier="C")  # type: ignore[call-arg]
    assert o.sites == {"treatment_centre": "TC-SOUTH", "courier": "C"}
    with pytest.raises(ValueError, match="given twice"):
        Order(**fields, treatment_centre="TC-SOUTH", sites={"treatment_centre": "TC-NORTH"})  # type: ignore[call-arg]
