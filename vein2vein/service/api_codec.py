"""Temporal's codec server protocol, so its Web UI can show decoded payloads to authorised people.

`POST /codec/decode` and `POST /codec/encode` take and return `{"payloads": [...]}` in
protobuf JSON (metadata values and data base64), as the Web UI sends them when its "codec
server endpoint" points here. Both require a reader (session or token): a decoded payload may
hold a body weight or a result. With payload encryption off they answer the payloads as sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from vein2vein.payload_keys import codec_for
from vein2vein.service.auth import READERS, Ctx, Principal, allowed

router = APIRouter(prefix="/codec", tags=["codec"])

Reader = Annotated[Principal, Depends(allowed(scopes={"read"}, roles=READERS))]


@router.post("/decode", response_class=Response)
async def decode(request: Request, ctx: Ctx, _: Reader) -> Response:
    """The payloads, opened with the deployment's payload keys (plain ones unchanged)."""
    payloads = await _payloads(request)
    codec = codec_for(ctx.settings)
    opened = list(payloads.payloads) if codec is None else await codec.decode(payloads.payloads)
    return _answer(opened)


@router.post("/encode", response_class=Response)
async def encode(request: Request, ctx: Ctx, _: Reader) -> Response:
    """The payloads, sealed with the active payload key."""
    payloads = await _payloads(request)
    codec = codec_for(ctx.settings)
    sealed = list(payloads.payloads) if codec is None else await codec.encode(payloads.payloads)
    return _answer(sealed)


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads())
    except (json_format.ParseError, ValueError) as err:  # ValueError: not UTF-8
        raise HTTPException(422, 'body must be {"payloads": [...]} in protobuf JSON') from err


def _answer(payloads: Sequence[Payload]) -> Response:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    return Response(content=body, media_type="application/json")
