"""`GET /subscriptions/websocket` (a websocket): a client that got a binding token from
`Subscription/{id}/$get-ws-binding-token` connects, sends `bind-with-token <token>` and then receives its
subscription's notifications (fhir_server.subscriptions.websocket_hub). The token is the credential (single
use, one minute), so the route is public to the bearer check: browsers cannot set headers on websockets."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from fhir_server.subscriptions.components import Subscriptions
from fhir_server.subscriptions.handlers import WEBSOCKET_PATH

router = APIRouter()
BIND_SECONDS = 30
_POLICY_VIOLATION = 1008


@router.websocket(WEBSOCKET_PATH)
async def websocket_channel(websocket: WebSocket) -> None:
    await websocket.accept()
    subscriptions: Subscriptions = websocket.app.state.subscriptions
    try:
        text = await asyncio.wait_for(websocket.receive_text(), BIND_SECONDS)
    except (TimeoutError, WebSocketDisconnect):
        await _close(websocket, "expected: bind-with-token <token>")
        return
    command, _, token = text.strip().partition(" ")
    ids = (
        await run_in_threadpool(subscriptions.state.redeem, token.strip())
        if command == "bind-with-token"
        else None
    )
    if not ids:
        await _close(websocket, "unknown or expired binding token")
        return
    await subscriptions.hub.serve(ids, websocket.send_text, websocket.receive_text)
    await _close(websocket, "subscription ended", code=1000)


async def _close(websocket: WebSocket, reason: str, code: int = _POLICY_VIOLATION) -> None:
    with contextlib.suppress(RuntimeError):  # already closed by the client
        await websocket.close(code=code, reason=reason)
