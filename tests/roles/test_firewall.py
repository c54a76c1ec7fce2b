"""Role `firewall`: no input opens a DICOM port to everyone, and no AE title can rewrite the rules.

The role's own checks (tasks/checks.yml) and template run under ansible-playbook on the controller; the
rendered file is checked with `nft -c` and loaded into a private network namespace, and what the kernel
then lists is judged (tests/roles/nftables.py): the input policy, that every accept rule is limited by
source and port, and which sources reach each port. Needs Debian's nftables on the controller (installed
here if missing and possible) and `unshare`.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.roles import nftables
from tests.roles.role_cases import check_names, listed_tasks, run_cases

SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"

SSH = ["192.0.2.5/32"]
HTTPS = ["192.0.2.0/24", "2001:db8:a::/48"]
# AE titles that try to end the rule's comment and add rules of their own. The first is 9 characters and a
# valid DICOM AE title; the others go beyond what DICOM allows, because the role must not rely on that.
HOSTILE_AE_TITLES = [
    '";accept#',
    '" accept comment "',
    "X;accept",
    "X\naccept\n",
    "X\r\naccept #",
    "} accept {",
    "{ accept }",
    "'; accept ;'",
    'X\\";accept;#',
    "# accept",
    "$(reboot)`id`",
    "ÉCHO\taccept",
    "A" * 40 + '";accept',
]


@pytest.fixture(scope="module")
def nft():
    """Debian's nft on the controller; installed with apt when missing and this runs as root."""
    if not shutil.which("nft", path=SBIN_PATH) and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nftables"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=600,
            check=False,
        )
    if not shutil.which("nft", path=SBIN_PATH):
        pytest.skip("nft (Debian package nftables) is missing and could not be installed")


def run(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        shell=True,  # the commands come from tests/roles/nftables.py, shared with molecule's testinfra
        env={**os.environ, "PATH": SBIN_PATH},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Inputs the role must refuse: (receiver fields over a hostile but otherwise valid receiver, other variables,
# what the message must say).
REFUSED = {
    "ipv4-everyone": ({"allowed_sources": ["0.0.0.0/0"]}, {}, ['"0.0.0.0/0"', "at least /24"]),
    "ipv6-everyone": ({"allowed_sources": ["::/0"]}, {}, ['"::/0"', "at least /64"]),
    "ipv4-too-wide": (
        {"allowed_sources": ["192.0.2.10/32", "10.0.0.0/8"]},
        {},
        ['"10.0.0.0/8"', "at least /24"],
    ),
    "ipv6-too-wide": ({"allowed_sources": ["2001:db8::/32"]}, {}, ['"2001:db8::/32"', "at least /64"]),
    "trailing-newline": (
        {"allowed_sources": ["10.0.0.1/32\n"]},
        {},
        ['"10.0.0.1/32\\n"', "not a CIDR block"],
    ),
    "injected-source": ({"allowed_sources": ["10.0.0.1/32 } accept"]}, {}, ['"10.0.0.1/32 } accept"']),
    "sources-not-a-list": ({"allowed_sources": "10.0.0.1/32"}, {}, ["non-empty list allowed_sources"]),
    "no-sources": ({"allowed_sources": []}, {}, ["non-empty list allowed_sources"]),
    "injected-port": ({"port": "8104 accept"}, {}, ["a port (1-65535)"]),
    "port-trailing-newline": ({"port": "8104\n"}, {}, ["a port (1-65535)"]),
    "minimum-zero": (
        {"allowed_sources": ["0.0.0.0/0"]},
        {"firewall_dicom_min_prefix_ipv4": 0},
        ["must be 1-32"],
    ),
}


def hostile_receivers() -> list:
    return [
        {"ae_title": title, "port": 11000 + number, "allowed_sources": [f"198.51.100.{number + 1}/32"]}
        for number, title in enumerate(HOSTILE_AE_TITLES)
    ]


def cases() -> dict:
    """Inventory host -> role inputs. Every case is a host of one run, so each fails (or not) on its own."""
    hosts = {
        "hostile-ae-titles": {"firewall_dicom_receivers": hostile_receivers()},
        # The probe of issue 16 alone: unescaped, it leaves a file nft accepts, with a bare `accept` rule.
        "probe-ae-title": {
            "firewall_dicom_receivers": [{"ae_title": '";accept#', "port": 8104, "allowed_sources": SSH}]
        },
        "wider-minimum": {
            "firewall_dicom_receivers": [
                {"ae_title": "XNAT_A", "port": 8104, "allowed_sources": ["10.1.0.0/16", "2001:db8:1::/48"]}
            ],
            "firewall_dicom_min_prefix_ipv4": 16,
            "firewall_dicom_min_prefix_ipv6": 48,
        },
    }
    for name, (receiver, variables, _) in REFUSED.items():
        hostile = {"ae_title": '";accept#', "port": 8104, "allowed_sources": ["192.0.2.10/32"], **receiver}
        valid = {"ae_title": "OK", "port": 8105, "allowed_sources": SSH}
        hosts[name] = {"firewall_dicom_receivers": [valid, hostile], **variables}
    return hosts


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Run the checks, then the template, once for all cases: {host: (failure messages, rules file)}."""
    work = tmp_path_factory.mktemp("firewall")
    common = {
        "firewall_apply": False,
        "firewall_ssh_allowed_sources": SSH,
        "firewall_https_allowed_sources": HTTPS,
    }
    return run_cases(work, "firewall", "checks.yml", cases(), common=common, template="xnat-enclave.nft.j2")


def kernel_view(rules: Path) -> nftables.Ruleset:
    check = run(nftables.check_only(str(rules)))
    assert check.returncode == 0, check.stderr
    listing = run(nftables.load_and_list(str(rules)))
    assert listing.returncode == 0, listing.stderr
    return nftables.parse(listing.stdout)


def test_hostile_ae_titles_open_nothing(nft, outcome):
    messages, rules = outcome["hostile-ae-titles"]
    assert messages == []

    ruleset = kernel_view(rules)

    assert ruleset.policy == "drop"
    assert ruleset.unrestricted == [], "accept rules limited by neither source nor port"
    for number in range(len(HOSTILE_AE_TITLES)):
        assert ruleset.sources_of(11000 + number) == nftables.networks(f"198.51.100.{number + 1}/32")
    assert ruleset.sources_of(22) == nftables.networks(*SSH)
    assert ruleset.sources_of(443) == ruleset.sources_of(80) == nftables.networks(*HTTPS)
    assert ruleset.sources_of(5432) == ruleset.sources_of(8080) == set()
    # Each comment stayed one string: the kernel holds the whole, sanitised label.
    dicom = [comment for comment in ruleset.comments if comment.startswith("DICOM receiver")]
    assert len(dicom) == len(HOSTILE_AE_TITLES)
    assert all(comment.endswith(" from its PACS/modalities") for comment in dicom), dicom
    assert "DICOM receiver __accept_ from its PACS/modalities" in dicom


def test_the_probed_ae_title_opens_nothing(nft, outcome):
    messages, rules = outcome["probe-ae-title"]
    assert messages == []
    ruleset = kernel_view(rules)
    assert ruleset.unrestricted == [], "accept rules limited by neither source nor port"
    assert ruleset.sources_of(8104) == nftables.networks(*SSH)
    assert "DICOM receiver __accept_ from its PACS/modalities" in ruleset.comments


def test_configured_minimum_prefix_admits_a_wider_block(nft, outcome):
    messages, rules = outcome["wider-minimum"]
    assert messages == []
    assert kernel_view(rules).sources_of(8104) == nftables.networks("10.1.0.0/16", "2001:db8:1::/48")


@pytest.mark.parametrize("case", REFUSED)
def test_unsafe_dicom_input_stops_the_run_before_any_write(outcome, case):
    messages, rules = outcome[case]
    assert messages, "the role's checks let it through"
    assert not rules.exists()
    message = " ".join(messages)
    _, variables, named = REFUSED[case]
    for text in named:
        assert text in message, message
    if not variables:  # a receiver's own input: named by its place in the list and its AE title
        assert "firewall_dicom_receivers[1]" in message, message
        assert '"\\";accept#"' in message, message


def test_checks_run_before_anything_is_installed_or_written(tmp_path):
    checks = check_names("firewall")
    tasks = listed_tasks(tmp_path, "firewall")
    assert tasks[: len(checks)] == checks
    assert tasks[len(checks)].startswith("Install nftables")
