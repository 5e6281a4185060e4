"""The codec server endpoints Temporal's Web UI calls: authenticated, protobuf JSON in and out."""

from __future__ import annotations

import base64

import httpx
import pytest

from definitions import CATALOG
from tests.harness import Harness
from tests.service.support import BASE, Client, People, login, make_token
from vein2vein.service import api_codec
from vein2vein.service.app import create_app
from vein2vein.settings import Settings
from workflows.codec import ENCODING, EncryptionCodec
from workflows.model import Role

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


async def test_only_the_named_web_ui_origin_may_call_the_codec_from_a_browser(
    harness: Harness, service_settings: Settings, people: People
) -> None:
    ui = "http://127.0.0.1:8233"
    settings = service_settings.model_copy(update={"codec_origins": (ui,)})
    app = create_app(settings, harness.client, key=harness.key, catalog=dict(CATALOG))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as h:
        allowed = await h.options("/codec/decode", headers={"Origin": ui, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ui
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = await h.options(
            "/codec/decode", headers={"Origin": "http://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
        # The browser sends the reader's session; the answer names the origin for it.
        assert (await login(h, *people.make(Role.QA))).is_redirect
        plain = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b"{}")}
        decoded = await h.post("/codec/decode", json={"payloads": [plain]}, headers={"Origin": ui})
        assert decoded.status_code == 200 and decoded.headers["access-control-allow-origin"] == ui
        # Nothing else opens to that origin.
        board = await h.get("/api/batches", headers={"Origin": ui})
        assert "access-control-allow-origin" not in board.headers
