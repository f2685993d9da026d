"""The long-lived parts of subscriptions in one server process: the state in the database, the dispatcher
thread and the websocket hub (started with the application, `app.state.subscriptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.storage.documents import Documents
from fhir_server.subscriptions.dispatcher import Dispatcher
from fhir_server.subscriptions.state import SubscriptionState
from fhir_server.subscriptions.topics import SHARE_LINK_ACCESSED
from fhir_server.subscriptions.websocket_hub import WebsocketHub


@dataclass
class Subscriptions:
    state: SubscriptionState
    dispatcher: Dispatcher
    hub: WebsocketHub

    def close(self) -> None:
        self.dispatcher.stop()

    def share_link_opened(self, patient_id: str) -> None:
        """A SMART Health Link of `patient_id` was opened: the share-link-accessed topic's event."""
        self.state.journal_occurrence(SHARE_LINK_ACCESSED.url, "Patient", patient_id)
        self.dispatcher.wake()


def start(app_state: Any, documents: Documents) -> Subscriptions:
    """`app_state` must hold `services` and `auth` (the secured stores of subscribers are built from them)."""
    state = SubscriptionState(documents)
    dispatcher = Dispatcher(app_state, state, documents)
    hub = WebsocketHub(state, dispatcher)
    dispatcher.listeners.append(hub.notify)
    return Subscriptions(state, dispatcher.start(), hub)


def subscriptions_of(app_state: Any) -> Subscriptions:
    """The running subscriptions of the application whose `app.state` this is."""
    found: Subscriptions = app_state.subscriptions
    return found
