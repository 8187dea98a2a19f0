"""The nurse's observations: deep sedation and depressed breathing alarm on the observation
itself, and an observation falls due at the rule set's interval after the dose.

An observation is the finding: it raises at once (no persistence), and a later observation that
no longer meets a rule ends its condition (a high alert stays latched until acknowledged). A
finding left out (the score not taken, breathing not assessed) neither raises nor clears what it
would bear on. Dissociation raises nothing: it is expected with (es)ketamine, and recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.alerts import messages
from app.alerts.events import AlertEvent
from app.alerts.inputs import Observation
from app.alerts.rules import Rule

if TYPE_CHECKING:
    from app.alerts.state import EngineState


def on_observation(state: EngineState, observation: Observation) -> list[AlertEvent]:
    """Record an observation; raise or end what its findings bear on."""
    events: list[AlertEvent] = []
    if observation.assessed:
        last = state.last_observation_t
        state.last_observation_t = observation.t if last is None else max(last, observation.t)
        due = state.index.event_rules.get("observation_due")
        if due is not None and due.id in state.book.open:
            events += state.book.end_condition(due, state.now, None, "observation recorded")
    if observation.moaas is not None:
        state.last_moaas = observation.moaas
    if observation.respiratory is not None:
        state.last_respiratory = observation.respiratory
    events += _findings(state, observation.moaas, observation.respiratory, ending=True)
    return events


def reassess(state: EngineState) -> list[AlertEvent]:
    """Raise what the last findings still meet once nothing blocks it (a lower sedation tier
    after the higher one is cleared by its acknowledgement)."""
    if state.last_moaas is None and state.last_respiratory is None:
        return []
    return _findings(state, state.last_moaas, state.last_respiratory, ending=False)


def _findings(
    state: EngineState, score: int | None, breathing: str | None, *, ending: bool
) -> list[AlertEvent]:
    """Raise what ``score`` and ``breathing`` meet; with ``ending`` (they were just observed),
    also end, or take up again, the condition of an open alert."""
    events: list[AlertEvent] = []
    if score is not None:
        for rule in state.index.sedation_rules:  # most severe first
            meets = score <= (rule.threshold or 0)
            text = messages.sedation(rule, score, clearing=not meets)
            events += _apply(state, rule, meets, ending, float(score), text)
    depressed = state.index.event_rules.get("respiratory_depressed")
    if breathing is not None and depressed is not None:
        meets = breathing == "depressed"
        text = messages.respiratory_depressed(clearing=not meets)
        events += _apply(state, depressed, meets, ending, None, text)
    return events


def _apply(
    state: EngineState, rule: Rule, meets: bool, ending: bool, value: float | None, text: str
) -> list[AlertEvent]:
    book = state.book
    alert = book.open.get(rule.id)
    if alert is None:
        if meets and not state.index.blocked(rule.id, book.open):
            return book.raise_alert(rule, state.index.by_id, state.now, value, text)
    elif not ending:
        pass  # only a new observation changes what an open alert stands for
    elif alert.condition_ended:
        if meets:
            alert.condition_ended = False  # observed again while latched: the same alert goes on
    elif not meets:
        return book.end_condition(rule, state.now, value, text)
    return []


def observation_due(state: EngineState, dose_at: float) -> list[AlertEvent]:
    """After the dose, an observation is due every ``observation_interval_s``: raised when
    that long has passed since the dose or the last observation, whichever is later."""
    rule = state.index.event_rules.get("observation_due")
    if rule is None or rule.id in state.book.open:
        return []
    interval = state.setup.rules.observation_interval_s
    last = state.last_observation_t
    since = dose_at if last is None or last < dose_at else last
    if state.now < since + interval or state.index.blocked(rule.id, state.book.open):
        return []
    text = messages.observation_due(interval, since_dose=since == dose_at)
    return state.book.raise_alert(rule, state.index.by_id, state.now, None, text)
