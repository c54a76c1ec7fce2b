"""Seeds of the XNAT double for the access-review tests, and the access list they are judged against."""

from __future__ import annotations

from typing import Any

AS_OF = "2026-11-20"  # the review runs "as of" this day, so expiry and dormancy are deterministic
RECENT = "2026-11-01T09:00:00Z"
# XNAT's lastModified (epoch ms) of accounts that never logged in; the seed format has no field for it.
LAST_MODIFIED = {"nina": "2026-05-04T08:00:00Z", "walt": "2026-11-19T16:00:00Z"}

ACCESS_LIST = """\
---
trust: trust-test
admins: [svc_audit, alice, svc_xnat]
dormant_after_days: 90
projects:
  CARDIO01:
    approval: IRAS 123456
    end_date: 2027-03-31
    owners: [{user: bob, expires: 2027-03-31}]
    members:
      - {user: carol, expires: 2026-12-31}
      - {user: dan, expires: 2026-06-30}
    collaborators: [{user: frank, expires: 2027-03-31}]
  NEURO02:
    approval: IG-2026-017
    end_date: 2028-06-30
    owners: [{user: carol, expires: 2028-06-30}]
    members: [{user: dave, expires: 2027-06-30}]
  OLD01:
    approval: IRAS 99
    end_date: 2026-06-30
    owners: [{user: peggy, expires: 2026-06-30}]
  PUB01:
    approval: IG-PUBLIC
    end_date: 2027-12-31
    owners: [{user: bob, expires: 2027-12-31}]
  PROT01:
    approval: IG-PROT
    end_date: 2027-12-31
    owners: [{user: bob, expires: 2027-12-31}]
  GHOST01:
    approval: IRAS 77
    end_date: 2027-12-31
    owners: [{user: zed, expires: 2027-12-31}]
"""


def user(username: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "username": username,
        "password": f"{username}-pw",
        "firstName": username.title(),
        "lastName": "Test",
        "email": f"{username}@trust.nhs.uk",
        "enabled": True,
        "verified": True,
        "lastSuccessfulLogin": RECENT,
    }
    entry.update(fields)
    return entry


SEED: dict[str, Any] = {
    "site_config": {"initialized": True, "siteUrl": "https://xnat.example"},
    "users": [
        user("admin", password="admin", roles=["Administrator"]),
        user("svc_audit", roles=["Administrator"]),
        user("alice", roles=["Administrator", "non_expiring"], groups=["ALL_DATA_ADMIN"]),
        user("mallory", roles=["Administrator"]),
        user("trent", groups=["ALL_DATA_ADMIN"]),
        user("ursula", roles=["non_expiring"], groups=["ALL_DATA_ACCESS"]),
        user("bob"),
        user("carol"),
        user("dan"),
        user("eve"),
        user("frank"),
        user("peggy"),
        user("dave", enabled=False),
        user("oscar", lastSuccessfulLogin="2026-01-05T10:00:00Z"),
        user("nina", lastSuccessfulLogin=None),
        user("walt", lastSuccessfulLogin=None),  # created the day before the review: not dormant
        user("victor", enabled=False, lastSuccessfulLogin=None),
    ],
    "projects": [
        {
            "id": "CARDIO01",
            "accessibility": "private",
            "owners": ["bob", "frank"],
            "members": ["carol", "dan", "eve"],
        },
        {"id": "NEURO02", "accessibility": "private", "owners": ["carol"], "members": ["dave"]},
        {"id": "OLD01", "accessibility": "private", "owners": ["peggy"]},
        {"id": "PUB01", "accessibility": "public", "owners": ["bob"]},
        {"id": "PROT01", "accessibility": "protected", "owners": ["bob"]},
        {"id": "ROGUE", "accessibility": "private", "members": ["bob"]},
    ],
}

# Every finding the seed must produce: (code, project, user).
EXPECTED = {
    ("default-admin-enabled", "", "admin"),  # one finding naming Administrator and ALL_DATA_ADMIN
    ("admin-role-not-approved", "", "mallory"),
    ("all-data-admin-not-approved", "", "trent"),
    ("all-data-access-not-approved", "", "ursula"),
    ("non-expiring-not-approved", "", "ursula"),
    ("guest-enabled", "", "guest"),
    ("dormant-account", "", "oscar"),
    ("dormant-account", "", "nina"),
    ("approval-expired", "CARDIO01", "dan"),
    ("member-not-approved", "CARDIO01", "eve"),
    ("role-not-approved", "CARDIO01", "frank"),
    ("disabled-user-in-project", "NEURO02", "dave"),
    ("project-past-end-date", "OLD01", ""),
    ("member-after-project-end", "OLD01", "peggy"),
    ("project-public", "PUB01", ""),
    ("project-protected", "PROT01", ""),
    ("project-not-approved", "ROGUE", ""),
    ("member-not-approved", "ROGUE", "bob"),
    ("approved-project-missing", "GHOST01", ""),
    ("approved-user-missing", "GHOST01", "zed"),
    ("approved-user-missing", "", "svc_xnat"),
}


def set_last_modified(double: Any, times: dict[str, str] = LAST_MODIFIED) -> None:
    """Give the double's accounts the lastModified XNAT would report (the seed cannot set it)."""
    from xnat_double.state import to_epoch_ms  # noqa: PLC0415 - the double is a test dependency

    for username, when in times.items():
        double.state.users[username].last_modified = to_epoch_ms(when)


def scaled_seed(users: int, projects: int, members_per_project: int = 2) -> dict[str, Any]:
    """A clean site of the given size: every membership approved, for call-count growth tests."""
    seeded_users = [user("svc_audit", roles=["Administrator"])]
    seeded_users += [user(f"u{index:05d}") for index in range(users)]
    seeded_projects = [
        {
            "id": f"P{index:04d}",
            "accessibility": "private",
            "owners": [f"u{(index + offset) % users:05d}" for offset in range(members_per_project)],
        }
        for index in range(projects)
    ]
    return {"site_config": {"initialized": True}, "users": seeded_users, "projects": seeded_projects}


def scaled_access_list(seed: dict[str, Any]) -> str:
    lines = ["---", "trust: trust-scale", "admins: [svc_audit, admin]", "dormant_after_days: 90", "projects:"]
    for project in seed["projects"]:
        lines += [f"  {project['id']}:", "    approval: IRAS 1", "    end_date: 2030-01-01", "    owners:"]
        lines += [f"      - {{user: {owner}, expires: 2030-01-01}}" for owner in project["owners"]]
    return "\n".join(lines) + "\n"
