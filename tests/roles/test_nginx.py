"""Role `nginx`: always a body-size limit and per-client limits, and nothing an input can break out of.

The role's checks (tasks/checks.yml) and its site template run on the controller for each case. That nginx
accepts the result and sends the headers on a real request is molecule/xnat_host's job.
"""

import re

import pytest

from tests.roles.role_cases import check_names, listed_tasks, run_cases

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'self'; object-src 'none'"
)
SSO_CSP = {
    "default-src": ["'self'"],
    "form-action": ["'self'", "https://idp.example.nhs.uk"],
    "upgrade-insecure-requests": [],
}
# case: (role variables, what the message must say; empty when the run must pass)
CASES = {
    "defaults": ({}, []),
    "sso-provider-in-form-action": ({"nginx_content_security_policy": SSO_CSP}, []),
    "injected-server-name": (
        {"nginx_server_name": "xnat.example.nhs.uk; return 200"},
        ['"xnat.example.nhs.uk; return 200"', "one host name"],
    ),
    "injected-upstream": (
        {"nginx_upstream_url": "http://127.0.0.1:8080; return 200"},
        ['"http://127.0.0.1:8080; return 200"'],
    ),
    "unlimited-body": ({"nginx_client_max_body_size": 0}, ["never 0", "got 0"]),
    "injected-body-size": ({"nginx_client_max_body_size": "1g; return 200"}, ['"1g; return 200"']),
    "delay-beyond-burst": ({"nginx_limit_req_burst": 10, "nginx_limit_req_delay": 20}, ["10, 20"]),
    "no-connection-limit": ({"nginx_limit_conn_per_ip": 0}, ["nginx_limit_conn_per_ip"]),
    "header-injection": (
        {"nginx_content_security_policy": {"default-src": ["'self'\" always; add_header X-Evil \"1"]}},
        ['nginx_content_security_policy["default-src"]'],
    ),
    "nginx-variable": (
        {"nginx_content_security_policy": {"script-src": ["$http_x_evil"]}},
        ['nginx_content_security_policy["script-src"]'],
    ),
    "directive-split": (
        {"nginx_content_security_policy": {"script-src": ["'self'", "*;", "report-uri"]}},
        ['nginx_content_security_policy["script-src"]'],
    ),
    "sources-as-a-string": (
        {"nginx_content_security_policy": {"script-src": "'self'"}},
        ['nginx_content_security_policy["script-src"]'],
    ),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    work = tmp_path_factory.mktemp("nginx")
    hosts = {case: variables for case, (variables, _) in CASES.items()}
    common = {"nginx_server_name": "xnat.example.nhs.uk", "nginx_tls_self_signed": True}
    return run_cases(work, "nginx", "checks.yml", hosts, common=common, template="xnat.conf.j2")


def directives(site):
    return re.findall(r"^\s*([a-z_]+) (.*);$", site.read_text(), re.MULTILINE)


@pytest.mark.parametrize("case", [case for case, (_, named) in CASES.items() if named])
def test_unsafe_input_stops_the_run_before_any_write(outcome, case):
    messages, site = outcome[case]
    assert messages, "the role's checks let it through"
    assert not site.exists()
    for text in CASES[case][1]:
        assert text in " ".join(messages), messages


def test_default_site_limits_uploads_and_clients_and_sends_the_csp(outcome):
    messages, site = outcome["defaults"]
    assert messages == []
    found = directives(site)
    assert ("client_max_body_size", "20g") in found
    assert ("limit_conn", "xnat_conn_per_ip 100") in found
    assert ("limit_req", "zone=xnat_req_per_ip burst=400 delay=100") in found
    assert ("limit_req_zone", "$binary_remote_addr zone=xnat_req_per_ip:10m rate=100r/s") in found
    assert ("add_header", f'Content-Security-Policy "{DEFAULT_CSP}" always') in found
    assert ("proxy_hide_header", "Content-Security-Policy") in found


def test_a_trust_can_extend_the_csp(outcome):
    messages, site = outcome["sso-provider-in-form-action"]
    assert messages == []
    header = "default-src 'self'; form-action 'self' https://idp.example.nhs.uk; upgrade-insecure-requests"
    assert ("add_header", f'Content-Security-Policy "{header}" always') in directives(site)


def test_checks_run_before_anything_is_installed_or_written(tmp_path):
    checks = check_names("nginx")
    tasks = listed_tasks(tmp_path, "nginx")
    assert tasks[: len(checks)] == checks
    assert tasks[len(checks)].startswith("Install nginx")
