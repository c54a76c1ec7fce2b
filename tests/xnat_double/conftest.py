"""Fixtures for the tests of the XNAT double itself."""

from __future__ import annotations

import pytest
import requests


class Client:
    """A requests session bound to the double's URL, with Basic auth (or none)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = auth

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, **kwargs)


@pytest.fixture
def site(xnat_double):
    """An initialised double with users alice (project owner), bob (member) and carol (no projects)."""
    xnat_double.seed(
        {
            "site_config": {"initialized": True, "siteUrl": "https://xnat.example"},
            "users": [
                {
                    "username": "alice",
                    "password": "pw",
                    "firstName": "Alice",
                    "lastName": "A",
                    "email": "a@x.uk",
                },
                {"username": "bob", "password": "pw", "firstName": "Bob", "lastName": "B", "email": "b@x.uk"},
                {
                    "username": "carol",
                    "password": "pw",
                    "firstName": "Carol",
                    "lastName": "C",
                    "email": "c@x.uk",
                },
            ],
            "projects": [{"id": "CARDIO01", "name": "Cardio", "owners": ["alice"], "members": ["bob"]}],
        }
    )
    xnat_double.clear_requests()
    return xnat_double


@pytest.fixture
def admin(site) -> Client:
    return Client(site.url, ("admin", "admin"))


@pytest.fixture
def as_user(site):
    return lambda username: Client(site.url, (username, "pw"))
