"""Every activity the framework offers a definition, grouped by the kind of work, with what
it does. A product may declare activities of its own (`process(activities=...)`); a
definition naming any other activity does not compile.

Each site activity hands its `StepCall` to the adapter of the site it addresses; the adapter
does the work once per idempotency key. The implementations live in `activities`.
"""

from __future__ import annotations

from workflows.language.values import ParamSpec

#: activity name -> what it asks of the outside world
SITE_ACTIVITIES: dict[str, str] = {
    # scheduling and capacity
    "book_slot": "Book a manufacturing slot inside the patient's treatment window.",
    "release_slot": "Release a booked manufacturing slot (compensation).",
    "move_slot": "Move the slot after the treatment centre rescheduled the collection.",
    # collection (apheresis) at the treatment centre
    "schedule_apheresis": "Ask the treatment centre to collect the patient's cells.",
    "cancel_apheresis": "Cancel a scheduled collection (compensation).",
    # shipping
    "book_courier": "Book a courier for a shipment under the stated condition.",
    "cancel_courier": "Cancel a courier booking (compensation).",
    # manufacturing: selection, transduction or editing, expansion, harvest, formulation
    "start_operation": "Ask the MES to run one manufacturing operation on the batch.",
    # materials
    "allocate_lots": "Allocate material lots (vector, media, reagents) to the batch.",
    "return_lots": "Return unused allocated lots to stock (compensation).",
    # release testing
    "request_release_test": "Ask the LIMS to run a release assay on the batch.",
    # infusion and the bedside
    "confirm_availability": "Confirm product availability before lymphodepletion starts.",
    "request_bedside_check": "Ask the treatment centre for a two-person bedside identity check.",
    "schedule_infusion": "Schedule the infusion and ask for the infusion record.",
    # in vivo and follow-up at the treatment centre
    "assess_eligibility": "Ask the treatment centre to assess and report eligibility.",
    "prepare_in_pharmacy": "Ask the pharmacy to thaw, dilute and label the dose.",
    "schedule_visit": "Book a follow-up visit and ask for its report.",
    # work an outside system finishes later, through the API, by opaque task id
    "hand_to_external": "Hand a task to an outside system; it completes or fails it by task id.",
    # notifications
    "notify": "Tell a site something (product released, batch abandoned).",
}

#: activities served by vein2vein itself rather than by a site adapter
SYSTEM_ACTIVITIES: dict[str, str] = {
    "allocate_coi": "Allocate the chain-of-identity identifier through the COI issuer.",
    "project_audit": "Write audit events into the ledger, exactly once each.",
    "deliver_report": "Deliver a simulated outside-world report to its batch.",
    "calculate_dose": "Weight-based dose and vial count from the order's body weight.",
    "release_to_inventory": "Put a released lot's doses into its product's inventory.",
    "allocate_doses": "Allocate doses from a product's inventory to the batch.",
    "return_doses": "Return the batch's allocated doses to inventory (compensation).",
}

KNOWN_ACTIVITIES = frozenset(SITE_ACTIVITIES) | frozenset(SYSTEM_ACTIVITIES)

#: The parameters a definition may pass to the framework's activities, by name, with their
#: types; checked when the process compiles (a product's own activities declare theirs).
PARAMETERS: dict[str, ParamSpec] = {
    "operation": ParamSpec(description="The MES operation to run (selection, expansion, ...)"),
    "consumes": ParamSpec(description="Material lots the operation consumes, comma separated"),
    "assay": ParamSpec(description="The release assay the laboratory runs"),
    "condition": ParamSpec(description="Shipping condition (frozen, 2-8C)"),
    "inventory": ParamSpec(description="The inventory a lot's doses go to or come from"),
    "materials": ParamSpec(description="Material kinds to allocate, comma separated"),
    "message": ParamSpec(description="What a notification says"),
    "count_from": ParamSpec(description="The result that says how many doses to allocate"),
    "doses": ParamSpec(type="integer", description="Doses a released lot adds to inventory"),
    "shelf_life": ParamSpec(
        type="duration",
        description="How long a released lot's doses may be allocated, from their release",
    ),
    "count": ParamSpec(type="integer", description="Doses to allocate"),
    "days": ParamSpec(type="integer", description="Days a manufacturing slot lasts"),
    "lead_days": ParamSpec(type="number", description="Days between booking and the slot"),
    "return_days": ParamSpec(type="number", description="Days from slot end to infusion"),
    "chain": ParamSpec(
        type="slot_chain",
        description="Slots at other parties booked, moved and released with this one "
        "(workflows.slots.slot_chain)",
    ),
    "dose_per_kg": ParamSpec(type="number", description="Dose per kg of body weight"),
    "per_vial": ParamSpec(type="number", description="Dose one vial holds"),
}
