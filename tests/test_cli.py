"""The command line: tables on success, one line and exit 1 on bad input, nothing changed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T as CAR_T
from records.reservations import Reservations
from tests.harness import Harness
from tests.products import FLAKY_BOOKING, REPORTED_BY_HAND
from tests.records.test_fhir import r5_problems
from vein2vein.cli import app
from workflows.client import pinned_definition
from workflows.model import BatchStart, DecisionAction

runner = CliRunner()


@pytest.fixture(autouse=True)
def _approved(approved: None) -> None:
    """The products these tests start from the command line are approved for use."""


def _env(harness: Harness, tmp: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": harness.client.service_client.config.target_host,
        "VEIN2VEIN_DATA_DIR": str(tmp),
        "VEIN2VEIN_LEDGER_URL": str(harness.ledger.engine.url),
        "COLUMNS": "200",
        "VEIN2VEIN_DEFINITIONS": "tests.products:TEST_PRODUCTS",
    }


async def _cli(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(
        runner.invoke, app, args, env=env or {"COLUMNS": "200"}, input=stdin
    )


async def test_definitions_commands() -> None:
    listed = await _cli(["definitions", "list"])
    assert listed.exit_code == 0 and CAR_T.content_hash[:12] in listed.output
    shown = await _cli(["definitions", "show", CAR_T.product])
    assert "qa_disposition" in shown.output and ">= 80 %" in shown.output
    diagram = await _cli(["definitions", "diagram", CAR_T.product])
    assert diagram.output.startswith("flowchart TD")
    assert "fresh_apheresis_hold" in diagram.output
    branched = await _cli(["definitions", "show", "in-vivo-cd19-lnp"])
    assert "result eligible = no" in branched.output and "not_eligible end" in branched.output
    valid = await _cli(["definitions", "validate", "tests.products:TEST_PRODUCTS"])
    assert valid.exit_code == 0 and "valid test-flaky-booking" in valid.output


async def test_bad_input_gets_one_line_and_exit_1() -> None:
    for args, needle in [
        (["definitions", "show", "no-such-product"], "unknown product 'no-such-product'"),
        (["definitions", "validate", "tests.nothing:X"], "cannot load tests.nothing:X"),
        (["batch", "event", "B-AAAAAAAA", "{not json"], "malformed JSON"),
        (
            ["batch", "start", CAR_T.product, "--order-id", "O-1", "--pseudonym", "x"],
            "invalid input: patient_pseudonym",
        ),
        (
            [
                "batch",
                "start",
                CAR_T.product,
                "--order-id",
                "O-1",
                "--pseudonym",
                "PSN-000001",
                "--site",
                "MFG-MOON",
            ],
            "manufacturing_site 'MFG-MOON' is not a configured site",
        ),
    ]:
        result = await _cli(args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.output


async def test_batch_start_show_event_against_temporal(harness: Harness, tmp_path: Path) -> None:
    env = _env(harness, tmp_path)
    started = await _cli(
        [
            "batch",
            "start",
            FLAKY_BOOKING.product,
            "--order-id",
            "O-CLI-1",
            "--pseudonym",
            "PSN-CLI-0001",
        ],
        env,
    )
    assert started.exit_code == 0, started.output
    batch_id = started.output.strip()
    handle = harness.client.get_workflow_handle(batch_id)
    await harness.until_waiting(handle, "event custody at receipt", step=timedelta(minutes=30))
    shown = await _cli(["batch", "show", batch_id], env)
    assert shown.exit_code == 0 and "test-flaky-booking" in shown.output
    awaits = shown.output[shown.output.index("awaiting") : shown.output.index("running clocks")]
    assert "event custody at receipt" in awaits and "UTC" in awaits
    clocks = shown.output[shown.output.index("running clocks") : shown.output.index("timeline")]
    assert "receipt" in clocks and "deadline" in clocks and " left" in clocks
    event = {
        "event_id": "cli-1",
        "step": "approve",
        "type": "custody",
        "reporter": "courier-x",
        "occurred_at": "2026-11-24T00:00:00Z",
    }
    refused = await _cli(["batch", "event", batch_id, json.dumps(event)], env)
    assert refused.exit_code == 1
    assert "is not waiting for a report at 'approve'" in refused.output
    as_json = await _cli(["batch", "show", batch_id, "--json"], env)
    assert json.loads(as_json.output)["batch_id"] == batch_id
    # One batch per order, whichever way it is started.
    again = await _cli(
        [
            "batch",
            "start",
            FLAKY_BOOKING.product,
            "--order-id",
            "O-CLI-1",
            "--pseudonym",
            "PSN-CLI-0002",
        ],
        env,
    )
    assert again.exit_code == 1
    assert f"order O-CLI-1 already started batch {batch_id}" in again.output
    await handle.cancel()
    await harness.finish(handle)


async def test_batch_start_takes_weight_and_treatment_window(
    harness: Harness, tmp_path: Path
) -> None:
    started = await _cli(
        [
            "batch",
            "start",
            FLAKY_BOOKING.product,
            "--order-id",
            "O-CLI-W",
            "--pseudonym",
            "PSN-CLI-0003",
            "--weight-kg",
            "72.5",
            "--window-start",
            "2026-12-01",
            "--window-end",
            "2026-12-20T12:00:00",
        ],
        _env(harness, tmp_path),
    )
    assert started.exit_code == 0, started.output
    handle = harness.client.get_workflow_handle(started.output.strip())
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (start,) = await harness.client.data_converter.decode(payloads, [BatchStart])
        break
    assert start.order.weight_kg == 72.5
    assert start.order.treatment_window_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert start.order.treatment_window_end == datetime(2026, 12, 20, 12, tzinfo=UTC)
    await handle.cancel()
    await harness.finish(handle)


async def test_example_events_are_what_a_batch_accepts(harness: Harness, tmp_path: Path) -> None:
    """The example body for each step, filled for the batch, moves the batch on: custody with
    its temperature evidence, then an assay in specification, up to the release gate."""
    env = _env(harness, tmp_path)
    listed = await _cli(["definitions", "example-event", REPORTED_BY_HAND.product], env)
    assert "receipt" in listed.output and "lims.result" in listed.output
    handle = await harness.start(REPORTED_BY_HAND)
    for step, waits in [("receipt", "event custody at receipt"), ("assay", "at assay")]:
        await harness.until_waiting(handle, waits)
        example = await _cli(
            ["definitions", "example-event", REPORTED_BY_HAND.product, step, "--batch", handle.id],
            env,
        )
        assert example.exit_code == 0, example.output
        body = json.loads(example.output)
        assert body["batch_id"] == handle.id
        sent = await _cli(["batch", "event", handle.id, "-"], env, stdin=json.dumps(body))
        assert sent.exit_code == 0 and "accepted" in sent.output, sent.output
    rec = await harness.until_waiting(handle, "decision at release")
    assert [c.identity_verified and c.label_verified for c in rec.custody] == [True]
    assert rec.custody[0].temperature is not None
    assert {n: r.in_specification for n, r in rec.results.items()} == {
        "viability_pct": True,
        "sterility": True,
    }
    assert not rec.deviations
    await handle.cancel()
    await harness.finish(handle)


async def test_batch_show_prints_each_signature_once(harness: Harness, tmp_path: Path) -> None:
    handle = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="temperature_excursion", step="receipt")]
    )
    await harness.until_waiting(handle, "disposition of DEV-1")
    await harness.decide(handle, "DEV-1", DecisionAction.CONTINUE, reason="stability data")
    await harness.until_waiting(handle, "decision at approve")
    shown = await _cli(["batch", "show", handle.id], _env(harness, tmp_path))
    assert shown.exit_code == 0, shown.output
    deviations = shown.output[shown.output.index("deviations") : shown.output.index("signatures")]
    assert "continue" in deviations and "Ada Quality" not in deviations
    assert shown.output.count("Ada Quality") == 1 and "stability data" in shown.output
    await handle.cancel()
    await harness.finish(handle)


async def test_decide_asks_the_authority_before_the_password(
    harness: Harness, tmp_path: Path
) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    pinned = await pinned_definition(harness.client, handle.id)
    assert pinned is not None and pinned.content_hash == FLAKY_BOOKING.content_hash
    env = _env(harness, tmp_path)
    as_operator = ["--signer", "op-1", "--role", "operator"]
    for args, needle in [
        (["decide", handle.id, "approve", "approve", *as_operator], "may not decide approve"),
        (["abandon", handle.id, "--reason", "no", *as_operator], "may not withdraw a batch"),
        (
            ["decide", handle.id, "nowhere", "approve", "--signer", "qa-1", "--role", "qa"],
            "no gate",
        ),
    ]:
        refused = await _cli(["batch", *args], env)
        assert refused.exit_code == 1 and needle in refused.output, refused.output
    assert not (await harness.record(handle)).signatures
    # The capacity view shows the lane the batch booked, as a table.
    slot = Reservations(harness.ledger.engine).calendar("MFG-EAST", 4).bookings[f"{handle.id}:slot"]
    day = slot.start.date().isoformat()
    shown = await _cli(["capacity", "MFG-EAST", "--start", day, "--days", "2"], env)
    assert shown.exit_code == 0 and f"lane {slot.lane}: {handle.id}" in shown.output
    for args, needle in [
        (["capacity", "NO-SITE"], "no site NO-SITE is configured"),
        (["capacity", "MFG-EAST", "--start", "tomorrow"], "is not a date"),
    ]:
        refused = await _cli(args, env)
        assert refused.exit_code == 1 and needle in refused.output, refused.output
    await handle.cancel()
    await harness.finish(handle)


async def test_ledger_verify_and_record_export(harness: Harness, tmp_path: Path) -> None:
    handle = await harness.start(FLAKY_BOOKING)
    await harness.until_waiting(handle, "decision at approve")
    await harness.decide(handle, "approve", DecisionAction.APPROVE)
    await harness.finish(handle)
    env = _env(harness, tmp_path)
    verified = await _cli(["ledger", "verify", "--batch", handle.id], env)
    assert verified.exit_code == 0 and "ok 1 batch(es)" in verified.output
    out = tmp_path / "ebr.html"
    exported = await _cli(
        ["record", "export", handle.id, "--format", "html", "--out", str(out)], env
    )
    assert exported.exit_code == 0, exported.output
    html = out.read_text()
    assert handle.id in html and "Review by exception" in html
    # The receipt leg judged against the pinned definition's 2-8 C, with its stored series.
    assert "Temperature history" in html and "<svg" in html and "not known here" not in html
    missing = await _cli(["record", "export", "B-NOTHERE00"], env)
    assert missing.exit_code == 1
    product = await _cli(["record", "fhir", handle.id], env)
    assert json.loads(product.output)["productCategory"]["code"] == "cells", product.output
    dispense = ["record", "fhir", handle.id, "--resource", "dispense"]
    given = await _cli([*dispense, "--patient", "PSN-7F3A9C21"], env)
    assert r5_problems(json.loads(given.output)) == [], given.output
    assert "--patient" in (await _cli(dispense, env)).output
    assert "pseudonym" in (await _cli([*dispense, "--patient", "Jane Doe"], env)).output


async def test_users_and_tokens_commands(tmp_path: Path) -> None:
    env = {"VEIN2VEIN_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    not_admin = await _cli(
        ["users", "add", "qa-ada", "--name", "Ada Quality", "--role", "qa"],
        env,
        stdin="s3cret-pass\ns3cret-pass\n",
    )
    assert not_admin.exit_code == 1 and "first user must be an administrator" in not_admin.output
    first = await _cli(
        ["users", "add", "boss", "--name", "Bo Boss", "--role", "admin"],
        env,
        stdin="boss-password\nboss-password\n",
    )
    assert first.exit_code == 0 and "added boss (admin)" in first.output
    as_boss = {**env, "VEIN2VEIN_ADMIN": "boss"}
    added = await _cli(
        ["users", "add", "qa-ada", "--name", "Ada Quality", "--role", "qa"],
        env,
        stdin="boss\nboss-password\ns3cret-pass\ns3cret-pass\n",  # admin id asked
    )
    assert added.exit_code == 0 and "added qa-ada (qa)" in added.output
    forged = await _cli(
        ["users", "add", "qa-eve", "--name", "Eve", "--role", "admin", "--admin", "qa-ada"],
        env,
        stdin="s3cret-pass\n",
    )
    assert forged.exit_code == 1 and "qa-ada is not an administrator" in forged.output
    wrong = await _cli(["users", "disable", "qa-ada"], as_boss, stdin="not-the-password\n")
    assert wrong.exit_code == 1 and "unknown user or wrong password" in wrong.output
    mismatch = await _cli(
        ["users", "add", "qa-bob", "--name", "Bob", "--role", "qa"],
        as_boss,
        stdin="boss-password\na\nb\n",
    )
    assert mismatch.exit_code == 1 and "the passwords differ" in mismatch.output
    listed = await _cli(["users", "list"], env)
    assert "Ada Quality" in listed.output and "qa-bob" not in listed.output
    for args, said in [
        (["users", "roles", "qa-ada", "--role", "qa", "--role", "operator"], "qa, operator"),
        (["users", "disable", "qa-ada"], "qa-ada disabled"),
        (["users", "enable", "qa-ada"], "qa-ada enabled"),
        (["users", "unlock", "qa-ada"], "was not throttled"),
        (["users", "logout", "qa-ada"], "ended 0 session(s)"),
        (["users", "remove", "qa-ada"], "qa-ada removed"),
    ]:
        done = await _cli(args, as_boss, stdin="boss-password\n")
        assert done.exit_code == 0 and said in done.output, (args, done.output)
    assert "qa-ada" not in (await _cli(["users", "list"], env)).output

    created = await _cli(
        ["tokens", "create", "courier-x", "--scope", "custody", "--site", "COURIER-1"],
        as_boss,
        stdin="boss-password\n",
    )
    assert created.exit_code == 0
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("v2v_")
    tokens = await _cli(["tokens", "list"], env)
    assert "courier-x" in tokens.output and "custody" in tokens.output and "active" in tokens.output
    assert "COURIER-1" in tokens.output
    assert secret not in tokens.output and "sha256" not in tokens.output
    revoked = await _cli(["tokens", "revoke", "courier-x"], as_boss, stdin="boss-password\n")
    assert revoked.exit_code == 0 and "revoked 1 token(s)" in revoked.output
    again = await _cli(["tokens", "revoke", "nobody"], as_boss, stdin="boss-password\n")
    assert again.exit_code == 1 and "no token matches nobody" in again.output


def test_ledger_checkpoints_expose_a_rewritten_chain(tmp_path: Path) -> None:
    from records import Ledger, stored_checkpoints
    from tests.records.attacker import delete_checkpoints, rewrite_history
    from tests.records.factories import events

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {"VEIN2VEIN_DATA_DIR": str(tmp_path / "data"), "VEIN2VEIN_LEDGER_URL": url}
    env["COLUMNS"] = "300"
    batch, archive = "B-CLICHECK1", tmp_path / "archive.jsonl"
    with Ledger.from_url(url) as led:
        led.create_schema()
        led.append(events(batch, 5))
        made = runner.invoke(app, ["ledger", "checkpoint"], env=env)
        assert made.exit_code == 0 and "1 checkpoint(s) made" in made.output, made.output
        verified = runner.invoke(app, ["ledger", "verify"], env=env)
        assert verified.exit_code == 0, verified.output
        assert "ok 1 batch(es), 5 entries, 1 signed checkpoint(s)" in verified.output
        exported = runner.invoke(app, ["ledger", "checkpoints", "export", str(archive)], env=env)
        assert exported.exit_code == 0 and "wrote 1 checkpoint(s)" in exported.output
        with led.engine.connect() as conn:
            (checkpoint,) = stored_checkpoints(conn)
        when = checkpoint.at.isoformat().replace("+00:00", "Z")

        rewrite_history(led, batch, 2, "forged")
        broken = runner.invoke(app, ["ledger", "verify"], env=env)
        assert broken.exit_code == 1
        assert broken.output.startswith(
            f"error: batch {batch} entry 5: entry 5 no longer has the hash that checkpoint"
            f" {batch}@5 of {when} signed"
        ), broken.output

        delete_checkpoints(led)
        journal = runner.invoke(app, ["ledger", "verify"], env=env)
        assert journal.exit_code == 1
        assert f"checkpoint {batch}@5 of {when} is in" in journal.output
        assert "missing from the checkpoint table" in journal.output
        external = runner.invoke(app, ["ledger", "verify", "--checkpoints", str(archive)], env=env)
        assert external.exit_code == 1 and "entry 5: entry 5 no longer has" in external.output
        absent = runner.invoke(app, ["ledger", "verify", "--checkpoints", "nope.jsonl"], env=env)
        assert absent.exit_code == 1 and "error: [Errno 2]" in absent.output
