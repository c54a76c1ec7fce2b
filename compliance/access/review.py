"""Compare what XNAT grants with what the access list approves, producing findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from compliance.access.accesslist import AccessList, ApprovedProject
from compliance.access.xnat_reader import XnatSnapshot, XnatUser

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
DEFAULT_ADMIN = "admin"
GUEST = "guest"

# Privileges that only people named in `admins` may hold: (kind, name) -> (code, severity, what it grants).
PRIVILEGES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("role", "Administrator"): ("admin-role-not-approved", "critical", "site administration"),
    ("group", "ALL_DATA_ADMIN"): (
        "all-data-admin-not-approved",
        "critical",
        "edit and delete rights on every project",
    ),
    ("group", "ALL_DATA_ACCESS"): ("all-data-access-not-approved", "high", "read access to every project"),
    ("role", "non_expiring"): ("non-expiring-not-approved", "medium", "an account that never expires"),
}


# Accessibility other than private: (severity, who can see what).
NON_PRIVATE: dict[str, tuple[str, str]] = {
    "public": ("high", "anyone, including guest, can see its data"),
    "protected": ("medium", "every logged-in user can see that it exists and its subject list"),
}


@dataclass(frozen=True, order=True)
class Finding:
    severity: str
    code: str
    project: str
    user: str
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across runs: the same problem keeps its key while its wording may change."""
        return (self.code, self.project, self.user)

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _project_findings(access: AccessList, snapshot: XnatSnapshot, today: date) -> list[Finding]:
    findings = []
    for project_id, project in sorted(snapshot.projects.items()):
        approved = access.projects.get(project_id)
        if project.accessibility in NON_PRIVATE:
            severity, exposure = NON_PRIVATE[project.accessibility]
            message = f"project is {project.accessibility}: {exposure}; set it to private"
            findings.append(Finding(severity, f"project-{project.accessibility}", project_id, "", message))
        if approved is None:
            findings.append(
                Finding(
                    "high",
                    "project-not-approved",
                    project_id,
                    "",
                    f"project exists in XNAT but is not on the access list {access.source}; "
                    "add it with its approval reference or delete it",
                )
            )
        elif approved.is_closed(today) and (project.sessions or project.members):
            why = _closure(approved)
            findings.append(
                Finding(
                    "critical",
                    "project-past-end-date",
                    project_id,
                    "",
                    f"project {why} (approval {approved.approval}) but XNAT still holds {project.sessions} "
                    f"sessions and {len(project.members)} members; close it with 'enclave project close'",
                )
            )
        findings.extend(_membership_findings(access, snapshot, project_id, today))
    for project_id in sorted(set(access.projects) - set(snapshot.projects)):
        findings.append(
            Finding(
                "low",
                "approved-project-missing",
                project_id,
                "",
                "project is on the access list but does not exist in XNAT; run the configure playbook "
                "or remove it from the list",
            )
        )
    return findings


def _closure(approved: ApprovedProject) -> str:
    return "is marked closed" if approved.closed else f"ended on {approved.end_date.isoformat()}"


def _membership_findings(
    access: AccessList, snapshot: XnatSnapshot, project_id: str, today: date
) -> list[Finding]:
    project = snapshot.projects[project_id]
    approved = access.projects.get(project_id)
    findings = []
    for user, role in sorted(project.members.items()):
        account = snapshot.users.get(user)
        if account is not None and not account.enabled:
            findings.append(
                Finding(
                    "medium",
                    "disabled-user-in-project",
                    project_id,
                    user,
                    f"disabled account still holds the {role} role; remove it from the project",
                )
            )
        grant = approved.grant_for(user) if approved else None
        if approved is not None and approved.is_closed(today):
            findings.append(
                Finding(
                    "high",
                    "member-after-project-end",
                    project_id,
                    user,
                    f"holds the {role} role although the project {_closure(approved)}",
                )
            )
        elif grant is None:
            findings.append(
                Finding(
                    "high",
                    "member-not-approved",
                    project_id,
                    user,
                    f"holds the {role} role but is not on the approved list for this project",
                )
            )
        elif grant.expired_on(today):
            findings.append(
                Finding(
                    "high",
                    "approval-expired",
                    project_id,
                    user,
                    f"approval as {grant.role} expired on {grant.expires.isoformat()} but the account still "
                    f"holds the {role} role",
                )
            )
        elif grant.role != role:
            findings.append(
                Finding(
                    "medium",
                    "role-not-approved",
                    project_id,
                    user,
                    f"holds the {role} role but is approved only as {grant.role}",
                )
            )
    return findings


def _dormancy(user: XnatUser, now: datetime, days: int) -> str | None:
    """Why an enabled account counts as dormant, or None when it does not.

    An account that never logged in is dormant only once it has gone unused for ``days`` since it was
    last changed (created or enabled): XNAT gives no creation date, and lastModified is the closest it
    has. Without either date the account is reported, saying so.
    """
    limit = timedelta(days=days)
    if user.last_login is not None:
        if now - user.last_login <= limit:
            return None
        return f"no login for over {days} days (last login: {user.last_login.date().isoformat()})"
    if user.last_modified is None:
        return "never logged in, and XNAT gives no date for the account's creation or last change"
    if now - user.last_modified <= limit:
        return None
    return (
        f"never logged in since the account was created or last changed on "
        f"{user.last_modified.date().isoformat()}, over {days} days ago"
    )


def _account_findings(access: AccessList, snapshot: XnatSnapshot, now: datetime) -> list[Finding]:
    findings = []
    for username, user in sorted(snapshot.users.items()):
        if username == GUEST:
            if user.enabled:
                findings.append(
                    Finding(
                        "high",
                        "guest-enabled",
                        "",
                        username,
                        "the guest account is enabled: anyone reaching XNAT can browse public projects; "
                        "disable it",
                    )
                )
            continue
        dormant = _dormancy(user, now, access.dormant_after_days) if user.enabled else None
        if dormant:
            findings.append(
                Finding(
                    "medium",
                    "dormant-account",
                    "",
                    username,
                    f"enabled account, {dormant}; disable it or record why it is kept",
                )
            )
        if username == DEFAULT_ADMIN:
            findings.extend(_default_admin_findings(user, approved=username in access.admins))
        elif username not in access.admins:
            findings.extend(_privilege_findings(user))
    return findings


def _held_privileges(user: XnatUser) -> list[tuple[str, str, str, str]]:
    """(name, code, severity, what it grants) for each privilege in PRIVILEGES the account holds."""
    held = []
    for (kind, name), (code, severity, grants) in PRIVILEGES.items():
        if name in (user.roles if kind == "role" else user.groups):
            held.append((name, code, severity, grants))
    return held


def _default_admin_findings(user: XnatUser, approved: bool) -> list[Finding]:
    """XNAT's built-in ``admin``: one finding while it is enabled, saying what it holds; none once disabled.

    The configure layer disables it once the service account works (xnat_config_disable_default_admin)
    and leaves its built-in roles alone: a disabled ``admin`` cannot log in, so it is no finding.
    """
    if not user.enabled:
        return []
    held = _held_privileges(user)
    unapproved = [] if approved else held
    severity = min((severity for _, _, severity, _ in unapproved), key=SEVERITIES.index, default="high")
    holds = ", ".join(f"{name} ({grants})" for name, _, _, grants in held) or "no administrative privileges"
    approval = (
        "it is listed in the access list's admins, but a shared, well-known account is not a named one"
        if approved
        else "it is not in the access list's admins"
    )
    return [
        Finding(
            severity,
            "default-admin-enabled",
            "",
            user.username,
            f"the default 'admin' account is enabled and holds {holds}; {approval}. Disable it "
            "(the configure layer does so with xnat_config_disable_default_admin: true once the service "
            "account works) and use named administrator accounts",
        )
    ]


def _privilege_findings(user: XnatUser) -> list[Finding]:
    findings = []
    for name, code, severity, grants in _held_privileges(user):
        if user.enabled:
            message = (
                f"enabled account holds {name} ({grants}) but is not in the access list's admins; "
                "remove the privilege or add the account to admins"
            )
        else:
            message = (
                f"disabled account still holds {name} ({grants}) and is not in the access list's admins; "
                "re-enabling it would restore the privilege: remove it"
            )
        findings.append(Finding(severity, code, "", user.username, message))
    return findings


def _missing_user_findings(access: AccessList, snapshot: XnatSnapshot) -> list[Finding]:
    findings = []
    for username in sorted(access.admins - set(snapshot.users)):
        findings.append(
            Finding("low", "approved-user-missing", "", username, "listed in admins but has no XNAT account")
        )
    for project_id, project in sorted(access.projects.items()):
        for grant in project.grants:
            if grant.user not in snapshot.users:
                findings.append(
                    Finding(
                        "low",
                        "approved-user-missing",
                        project_id,
                        grant.user,
                        f"approved as {grant.role} but has no XNAT account",
                    )
                )
    return findings


def review(access: AccessList, snapshot: XnatSnapshot, now: datetime) -> list[Finding]:
    """All findings, most severe first."""
    today = now.date()
    findings = [
        *_account_findings(access, snapshot, now),
        *_project_findings(access, snapshot, today),
        *_missing_user_findings(access, snapshot),
    ]
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    return sorted(
        findings, key=lambda finding: (rank[finding.severity], finding.project, finding.user, finding.code)
    )


def summarise(
    findings: list[Finding],
    access: AccessList,
    snapshot: XnatSnapshot,
    judged_at: datetime,
    run_time: datetime,
) -> dict[str, Any]:
    by_severity = Counter(finding.severity for finding in findings)
    memberships = sum(len(project.members) for project in snapshot.projects.values())
    return {
        "trust": access.trust,
        "xnat": snapshot.url,
        "access_list": access.source,
        "generated_at": run_time.isoformat(timespec="seconds"),
        "as_of": judged_at.date().isoformat(),
        "total": len(findings),
        "by_severity": {severity: by_severity.get(severity, 0) for severity in SEVERITIES},
        "by_project": dict(sorted(Counter(finding.project or "(site)" for finding in findings).items())),
        "by_code": dict(sorted(Counter(finding.code for finding in findings).items())),
        "counts": {
            "users": len(snapshot.users),
            "projects": len(snapshot.projects),
            "memberships": memberships,
            "approved_projects": len(access.projects),
        },
        "rest_calls": {
            "total": sum(snapshot.rest_calls.values()),
            "by_route": dict(sorted(snapshot.rest_calls.items())),
        },
    }
