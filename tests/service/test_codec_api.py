"""The codec server endpoints Temporal's Web UI calls: authenticated, protobuf JSON in and out."""

from __future__ import annotations

import base64

import pytest

from tests.service.support import Client, make_token
from vein2vein.service import api_codec
from vein2vein.settings import Settings
from workflows.codec import ENCODING, EncryptionCodec

CODEC = EncryptionCodec({"ui-1": bytes(range(32))}, "ui-1")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_the_web_ui_decodes_sealed_payloads_only_when_authorised(
    client: Client, service_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_codec, "codec_for", lambda _: CODEC)
    plain = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'{"weight_kg":72.5}')}
    http = await client(token=make_token(service_settings, "auditor", ["read"]))

    sealed = await http.post("/codec/encode", json={"payloads": [plain]})
    assert sealed.status_code == 200, sealed.text
    (payload,) = sealed.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
    assert b"72.5" not in base64.b64decode(payload["data"])

    opened = await http.post("/codec/decode", json=sealed.json())
    assert opened.status_code == 200 and opened.json() == {"payloads": [plain]}
    passed = await http.post("/codec/decode", json={"payloads": [plain]})
    assert passed.json() == {"payloads": [plain]}  # a payload from before encryption

    anonymous = await (await client()).post("/codec/decode", json=sealed.json())
    assert anonymous.status_code == 401
    garbage = await http.post("/codec/decode", content=b"not json")
    assert garbage.status_code == 422
