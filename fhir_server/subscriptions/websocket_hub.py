"""The websocket channel of this process (Backport IG, websockets.html): the sockets bound to websocket
subscriptions, each sent a handshake on binding, then every new event as an `event-notification` Bundle and a
`heartbeat` at the subscription's period.

Events are recorded in the database by whichever worker processed the write; a socket lives in one worker.
So each bound socket reads its subscriptions' new events itself: at once when this process recorded one
(`notify`, called by the dispatcher thread), and at least every second for events other workers recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from fhir_server.subscriptions.dispatcher import Dispatcher
from fhir_server.subscriptions.notifications import NotificationType, notification_bundle
from fhir_server.subscriptions.owner import Owner
from fhir_server.subscriptions.state import LIVE, Event, SubscriptionState, now, utc
from fhir_server.type_aliases import Document

POLL_SECONDS = 1.0
Send = Callable[[str], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]


class WebsocketHub:
    def __init__(self, state: SubscriptionState, dispatcher: Dispatcher) -> None:
        self._state = state
        self._dispatcher = dispatcher
        # subscription id -> the wake-up events of the sockets bound to it (with their loop)
        self._bound: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def notify(self, subscription_id: str) -> None:
        """An event was recorded for `subscription_id` (from any thread)."""
        for loop, wake in list(self._bound.get(subscription_id, ())):
            loop.call_soon_threadsafe(wake.set)

    async def serve(self, subscription_ids: list[str], send: Send, receive: Receive) -> None:
        """Until the client goes away or every subscription ended: handshake, events, heartbeats."""
        docs = [await run_in_threadpool(self._state.get, i) for i in subscription_ids]
        live = [d for d in docs if d is not None and d["channel"] == "websocket" and d["status"] in LIVE]
        if not live:
            return
        wake = asyncio.Event()
        entry = (asyncio.get_running_loop(), wake)
        last = {d["_id"]: int(d.get("events") or 0) for d in live}
        beats = {d["_id"]: time.monotonic() for d in live}
        for bound in live:
            self._bound.setdefault(bound["_id"], set()).add(entry)
            await send(self._message(bound, "handshake"))
        listening = asyncio.create_task(_until_closed(receive))
        try:
            while not listening.done() and last:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_SECONDS)
                wake.clear()
                for sub_id in list(last):
                    found: Document | None = await run_in_threadpool(self._state.get, sub_id)
                    if (
                        found is None
                        or found["status"] not in LIVE
                        or found["channel"] != "websocket"
                        or (found.get("end") is not None and utc(found["end"]) <= now())
                    ):
                        del last[sub_id]
                        continue
                    doc = found
                    events = await run_in_threadpool(
                        self._state.events, sub_id, last[sub_id] + 1, None, int(doc["max_count"])
                    )
                    if events:
                        await send(await run_in_threadpool(self._message, doc, "event-notification", events))
                        last[sub_id] = events[-1].number
                        beats[sub_id] = time.monotonic()
                    elif doc.get("heartbeat") and time.monotonic() - beats[sub_id] >= doc["heartbeat"]:
                        await send(self._message(doc, "heartbeat"))
                        beats[sub_id] = time.monotonic()
        finally:
            listening.cancel()
            for bound in live:
                self._bound.get(bound["_id"], set()).discard(entry)

    def _message(self, doc: Document, kind: NotificationType, events: list[Event] | None = None) -> str:
        owner = Owner.from_doc(doc.get("owner"))
        base = owner.access.base_url if owner is not None else ""
        bundle = notification_bundle(doc, base, kind, events or [], self._dispatcher.read_focus(doc))
        return orjson.dumps(bundle).decode()


async def _until_closed(receive: Receive) -> None:
    """Read (and ignore) what the client sends, until it disconnects."""
    with contextlib.suppress(Exception):
        while True:
            await receive()
