"""Simulator speed: a year of a 10-centre, 3-plant CAR T network (about 40,000 patient
journeys) on the discrete-event executor, no Temporal. Prints journeys per second and wall
time (a figure, not a pass or fail).

    .venv/bin/python -m benchmarks.simulate [--patients 40000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from definitions import CATALOG
from simulation.metrics import summarise
from simulation.scenario import Scenario, load_scenario
from simulation.simulate import simulate

EXAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "network.toml"
CENTRES = 10
PLANTS = 3


def network(patients: int, seed: int) -> Scenario:
    """The example scenario's products, faults and policy on a network of 10 centres and 3
    plants, lanes and QA sized so that about nine in ten lanes are busy."""
    example = load_scenario(EXAMPLE)
    per_centre = patients / CENTRES
    per_plant = patients / PLANTS
    lanes = max(1, round(per_plant * 14 / 365 / 0.9))
    sites: dict[str, dict[str, object]] = {
        f"MFG-{n}": {"kind": "manufacturing_site", "lanes": lanes, "qa_reviewers": 40}
        for n in range(1, PLANTS + 1)
    }
    for n in range(1, CENTRES + 1):
        sites[f"TC-{n:02d}"] = {
            "kind": "treatment_centre",
            "manufacturing_site": f"MFG-{(n - 1) % PLANTS + 1}",
            "patients_per_year": per_centre,
            "products": {"autologous-cd19-car-t": 1.0},
        }
    sites["COURIER-CRYO"] = {"kind": "courier"}
    return Scenario.model_validate(
        {
            **example.model_dump(exclude={"sites", "lots", "products", "name", "seed"}),
            "name": f"{CENTRES} centres, {PLANTS} plants",
            "seed": seed,
            "products": {"autologous-cd19-car-t": {"window_days": 42}},
            "sites": sites,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    scenario = network(args.patients, args.seed)
    started, cpu = time.perf_counter(), time.process_time()
    result = simulate(scenario, CATALOG)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    s = summarise(result)
    journeys = len(result.journeys)
    # The machine is shared: CPU time says what the simulator itself took.
    print(
        f"{scenario.name}: {journeys} journeys ({s.infused} infused) "
        f"in {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    print(f"journeys per second: {journeys / wall:,.0f}")
    print(
        f"vein-to-vein p50 {s.v2v_p50_days:.1f} d, p90 {s.v2v_p90_days:.1f} d; "
        f"within window {s.within_window:.1%}; utilisation "
        + ", ".join(f"{x.site} {x.utilisation:.0%}" for x in s.sites)
    )


if __name__ == "__main__":
    main()
