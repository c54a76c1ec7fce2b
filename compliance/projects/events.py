"""What runs on a closed project's events: its event subscriptions and its container wrapper enablement.

The configure layer runs commands on a project's new scans through an event subscription whose project
filter names the project (``dicom_to_nifti``, ``pixel_cleaning``), and enables each command's wrapper for
the project, which the subscription needs. A close switches both off, during the freeze and so before the
deletes (a subscription to ``SessionEvent`` DELETED would otherwise fire for every session deleted):

- **subscriptions** whose ``project-ids`` name only this project are **deactivated**, not deleted: XNAT
  keeps a deactivated subscription and its delivery history (NX EventSubscriptionEntityServiceImpl.java
  ``deactivate`` sets ``active`` false; ``delete`` deactivates, then removes the row). XNAT never removes
  subscriptions by itself: deleting a project leaves them (nothing in the event service looks at project
  deletion). Deactivate answers 200 even when it failed inside (``deactivate`` catches every Throwable),
  so the project's list is read again afterwards. A subscription that also names other projects is left
  active, as switching it off would stop it for them: it is a finding. Site-wide subscriptions (no
  project filter) are not the project's and are left alone;
- **wrappers** enabled for the project are disabled for it (``PUT .../disabled?reason=``; XNAT keeps the
  earlier value in its configuration history). XNAT reports a project's flag only while the wrapper is
  enabled on the site (CS ContainerConfigServiceImpl.isEnabledForProject), so a wrapper switched off on the
  site is not looked at.

Everything goes through the project routes (Delete level: the project's owner may close it, not only an
Administrator). The record keeps each subscription's id, name, event type and status and action key,
and each wrapper's id and name: no payload filter, no attribute, no patient identifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compliance.projects.xnat_io import CloseClient, XnatWriteError
from compliance.xnat import routes

ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"  # action keys <provider>:<wrapper id>
REASON = "enclave project close"  # the ?reason= XNAT keeps with the wrapper's configuration change
SUBSCRIPTION_FIELDS = ("id", "name", "event_type", "status", "action_key")
WRAPPER_FIELDS = ("wrapper_id", "wrapper", "command_id", "command", "version")


@dataclass
class Processing:
    """The project's subscriptions and wrapper enablement as XNAT listed them before the close."""

    project: str
    # "read"; "off" (the event service is switched off: XNAT lists nothing); "absent" (no event
    # service); "unreadable" (the list failed: events_error says how).
    events: str = "read"
    events_error: str = ""
    own: list[dict[str, Any]] = field(default_factory=list)  # project-ids name only this project
    shared: list[dict[str, Any]] = field(default_factory=list)  # name it and other projects
    wrappers: list[dict[str, Any]] | None = field(default_factory=list)  # enabled for the project
    wrappers_error: str = ""

    @property
    def to_deactivate(self) -> list[dict[str, Any]]:
        return [entry for entry in self.own if entry["active"]]

    @property
    def shared_active(self) -> list[dict[str, Any]]:
        return [entry for entry in self.shared if entry["active"]]


def summary(entry: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: entry[name] for name in names}


def _list_subscriptions(client: CloseClient, project: str) -> list[dict[str, Any]] | None:
    """The project list parsed, or None when XNAT answers no body (event service off, or absent)."""
    listed = client.get(routes.PROJECT_SUBSCRIPTIONS, project=project)
    if listed is None:
        return None
    where = client.where("GET", routes.PROJECT_SUBSCRIPTIONS, project=project)
    if not isinstance(listed, list):
        raise XnatWriteError(f"{where}: expected a list of subscriptions, got {str(listed)[:200]!r}")
    try:
        return [routes.parse_subscription(entry) for entry in listed]
    except (ValueError, TypeError, KeyError) as error:
        raise XnatWriteError(f"{where}: {error}") from error


def _only(entry: dict[str, Any], project: str) -> bool:
    return set(entry["project_ids"]) == {project}


def read_processing(client: CloseClient, project: str) -> Processing:
    processing = Processing(project)
    try:
        listed = _list_subscriptions(client, project)
        if listed is None:
            prefs = client.get(routes.EVENT_PREFS)
            enabled = isinstance(prefs, dict) and str(prefs.get("enabled")).lower() == "true"
            processing.events = "absent" if prefs is None else "read" if enabled else "off"
            listed = []
    except XnatWriteError as error:
        processing.events, processing.events_error = "unreadable", str(error)
        listed = []
    processing.own = [entry for entry in listed if _only(entry, project)]
    processing.shared = [
        entry for entry in listed if project in entry["project_ids"] and not _only(entry, project)
    ]
    try:
        commands = client.get(routes.COMMANDS)  # None: no container service
        try:
            wrappers = [] if commands is None else routes.parse_command_wrappers(commands)
        except (ValueError, TypeError, KeyError) as error:
            raise XnatWriteError(f"{client.where('GET', routes.COMMANDS)}: {error}") from error
        processing.wrappers = []
        for wrapper in wrappers:
            if _wrapper_flags(client, project, wrapper)[1]:
                processing.wrappers.append(wrapper)
    except XnatWriteError as error:
        processing.wrappers, processing.wrappers_error = None, str(error)
    return processing


def _wrapper_flags(client: CloseClient, project: str, wrapper: dict[str, Any]) -> tuple[bool, bool]:
    segments = {"project": project, "wrapper": wrapper["wrapper_id"]}
    report = client.get(routes.PROJECT_WRAPPER_ENABLED, **segments)
    if report is None:  # the wrapper went since the listing
        return False, False
    try:
        return routes.parse_project_enabled_report(report)
    except ValueError as error:
        where = client.where("GET", routes.PROJECT_WRAPPER_ENABLED, **segments)
        raise XnatWriteError(f"{where}: {error}") from error


@dataclass
class SwitchedOff:
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    wrappers: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_subscriptions": [summary(entry, SUBSCRIPTION_FIELDS) for entry in self.subscriptions],
            "project_wrappers": [summary(entry, WRAPPER_FIELDS) for entry in self.wrappers],
        }


def switch_off(
    client: CloseClient, processing: Processing, attempt: Callable[[str, Callable[[], int]], bool]
) -> SwitchedOff:
    """Deactivate the project's own active subscriptions, then disable its wrappers (a subscription of a
    disabled wrapper would read as invalid, which deactivating first avoids)."""
    project = processing.project
    done = SwitchedOff()
    for entry in processing.to_deactivate:
        if attempt(
            f"deactivate event subscription {entry['id']} ({entry['name']})",
            lambda entry=entry: client.send(
                "POST", routes.PROJECT_SUBSCRIPTION_DEACTIVATE, project=project, id=entry["id"]
            ),
        ):
            done.subscriptions.append(entry)
    for wrapper in processing.wrappers or []:
        if attempt(
            f"disable wrapper {wrapper['wrapper']} (command {wrapper['command']}) for project {project}",
            lambda wrapper=wrapper: client.send(
                "PUT",
                routes.PROJECT_WRAPPER_DISABLE,
                {"reason": REASON},
                project=project,
                wrapper=wrapper["wrapper_id"],
            ),
        ):
            done.wrappers.append(wrapper)
    return done


def verify_processing(client: CloseClient, processing: Processing) -> dict[str, int]:
    """What is still on after the close: the project's own active subscriptions (the list read again) and
    the wrappers that were enabled for it. Left out when it could not be read before."""
    found: dict[str, int] = {}
    project = processing.project
    if processing.events == "read":
        try:
            listed = _list_subscriptions(client, project) or []
            found["active_subscriptions"] = len([e for e in listed if _only(e, project) and e["active"]])
        except XnatWriteError:
            found["active_subscriptions"] = len(processing.to_deactivate)  # unknown: assume still on
    if processing.wrappers is not None:
        still = 0
        for wrapper in processing.wrappers:
            try:
                still += _wrapper_flags(client, project, wrapper)[1]
            except XnatWriteError:
                still += 1
        found["enabled_wrappers"] = still
    return found


def _item(what: str, severity: str, count: int | None, detail: str, **extra: Any) -> dict[str, Any]:
    return {"what": what, "severity": severity, "count": count, **extra, "detail": detail}


def processing_remains(processing: Processing, done: SwitchedOff) -> list[dict[str, Any]]:
    """Items for the record's "what remains" about the project's subscriptions and wrappers."""
    project = processing.project
    items: list[dict[str, Any]] = []
    if processing.events == "unreadable":
        detail = (
            f"the project's event subscriptions could not be listed ({processing.events_error}); any whose "
            f"project filter names {project} may still be active"
        )
        items.append(_item("event_subscriptions", "finding", None, detail))
    elif processing.events == "off":
        detail = (
            "XNAT's event service is switched off, and while it is off XNAT lists no subscription: none of "
            f"{project}'s could be checked or deactivated (none runs while it is off). Before switching it "
            "on again, deactivate those whose project filter names the project (rerun the close)."
        )
        items.append(_item("event_subscriptions", "note", None, detail))
    elif processing.events == "absent":
        detail = "this XNAT has no event service (no subscription to check)"
        items.append(_item("event_subscriptions", "note", None, detail))
    shared = processing.shared_active
    if shared:
        detail = (
            f"{len(shared)} active event subscriptions name {project} and other projects in their project "
            "filter; they were left active (deactivating them would stop them for the other projects): "
            + "; ".join(
                f"{entry['id']} {entry['name']!r} for {', '.join(entry['project_ids'])}" for entry in shared
            )
            + f". Take {project} out of their project filter."
        )
        disabled = {f"{ACTION_PROVIDER}:{wrapper['wrapper_id']}" for wrapper in done.wrappers}
        if any(entry["action_key"] in disabled for entry in shared):
            detail += (
                f" Until then XNAT reports them invalid: their wrapper is no longer enabled for {project} "
                "(EventSubscriptionEntityServiceImpl.validate checks every project of the filter)."
            )
        ids = [entry["id"] for entry in shared]
        items.append(_item("shared_event_subscriptions", "finding", len(shared), detail, ids=ids))
    if processing.wrappers is None:
        detail = (
            f"the container wrappers enabled for {project} could not be checked ({processing.wrappers_error})"
        )
        items.append(_item("project_wrappers", "finding", None, detail))
    if done.subscriptions or done.wrappers:
        detail = (
            f"{len(done.subscriptions)} event subscriptions were deactivated and {len(done.wrappers)} "
            "container wrappers disabled for the project (listed under switched_off); XNAT keeps them, "
            "inactive, with their history. The configure layer switches them on again while the trust's "
            f"inventory still sets dicom_to_nifti or pixel_cleaning for {project}: take those out."
        )
        items.append(_item("switched_off_processing", "note", None, detail))
    return items


def plan_lines(processing: Processing) -> list[str]:
    """The dry run's lines: what the close would switch off."""
    subscriptions = processing.to_deactivate
    listed = ", ".join(describe_subscription(entry) for entry in subscriptions) or "none"
    lines = [f"  deactivate {len(subscriptions)} event subscriptions: {listed}"]
    if processing.events == "off":
        lines.append("  (XNAT's event service is switched off: it lists no subscription to check)")
    elif processing.events == "unreadable":
        lines.append(f"  (the event subscriptions could not be listed: {processing.events_error})")
    if processing.wrappers is not None:
        wrappers = ", ".join(describe_wrapper(wrapper) for wrapper in processing.wrappers) or "none"
        lines.append(f"  disable {len(processing.wrappers)} container wrappers for the project: {wrappers}")
    else:
        lines.append(f"  (the container wrappers could not be checked: {processing.wrappers_error})")
    return lines


def describe_subscription(entry: dict[str, Any]) -> str:
    """``12 'STROKE01 dcm2niix' (ScanEvent CREATED)``."""
    event = " ".join(filter(None, (entry["event_type"].rsplit(".", 1)[-1], entry["status"])))
    return f"{entry['id']} {entry['name']!r} ({event or 'no event type'})"


def describe_wrapper(entry: dict[str, Any]) -> str:
    return f"{entry['wrapper']} (command {entry['command']}, wrapper id {entry['wrapper_id']})"
