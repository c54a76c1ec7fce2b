"""Role `base`: the run stops when sshd would not use the hardened SSH settings.

sshd keeps the first value it reads for most keywords and adds Port, ListenAddress and AllowGroups up across
its files. tasks/sshd_effective.yml compares what `sshd -T` reports with the drop-in's settings; here it runs
on the controller against `sshd -T` outputs in OpenSSH 9.2's format (Debian 12). The real sshd, with a
cloud-init drop-in that says the opposite, is molecule/base's job.
"""

import pytest

from tests.roles.role_cases import run_cases

# `sshd -T` of a host where the drop-in won (role defaults), abridged to what the role checks plus noise.
HARDENED = [
    "port 22",
    "addressfamily any",
    "listenaddress [::]:22",
    "listenaddress 0.0.0.0:22",
    "usepam yes",
    "logingracetime 30",
    "maxauthtries 3",
    "clientaliveinterval 300",
    "clientalivecountmax 2",
    "permitrootlogin no",
    "pubkeyauthentication yes",
    "passwordauthentication no",
    "kbdinteractiveauthentication no",
    "x11forwarding no",
    "permitemptypasswords no",
    "allowtcpforwarding no",
    "allowagentforwarding no",
    "loglevel VERBOSE",
    "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
    "aes256-ctr,aes128-ctr",
    "macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com",
    "kexalgorithms curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512",
]


def replaced(old: str, *new: str) -> list[str]:
    """HARDENED with the lines starting with `old` replaced by `new`."""
    return [line for line in HARDENED if not line.startswith(old)] + list(new)


# case: (sshd -T lines, role variables, what the message must say; empty when the run must pass)
CASES = {
    "hardened": (HARDENED, {}, []),
    "cloud-init-password-wins": (
        replaced("passwordauthentication no", "passwordauthentication yes"),
        {},
        ["wants passwordauthentication no", "says passwordauthentication yes"],
    ),
    "root-login-wins": (
        replaced("permitrootlogin no", "permitrootlogin yes"),
        {},
        ["wants permitrootlogin no", "says permitrootlogin yes"],
    ),
    "prohibit-password-under-its-old-name": (
        replaced("permitrootlogin no", "permitrootlogin without-password"),
        {"base_ssh_permit_root_login": "prohibit-password"},
        [],
    ),
    "weak-cipher-wins": (
        replaced("ciphers ", "ciphers aes128-cbc,3des-cbc"),
        {},
        ["says ciphers aes128-cbc,3des-cbc"],
    ),
    "another-port": (
        [*HARDENED, "port 2200"],
        {},
        ["lists port 22, 2200", "sets only 22"],
    ),
    "own-addresses": (
        replaced("listenaddress ", "listenaddress 127.0.0.1:22", "listenaddress [::1]:22"),
        {"base_ssh_listen_addresses": ["127.0.0.1", "::1"]},
        [],
    ),
    "another-address": (
        replaced("listenaddress [::]:22", "listenaddress 127.0.0.1:22"),
        {"base_ssh_listen_addresses": ["127.0.0.1"]},
        ["lists listenaddress 0.0.0.0:22, 127.0.0.1:22", "sets only 127.0.0.1:22"],
    ),
    "another-group": (
        [*HARDENED, "allowgroups admins", "allowgroups users"],
        {"base_ssh_allow_groups": ["admins"]},
        ["lists allowgroups admins, users", "sets only admins"],
    ),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    hosts = {
        case: {"__base_sshd_t": {"stdout_lines": lines}, **variables}
        for case, (lines, variables, _) in CASES.items()
    }
    outcome = run_cases(tmp_path_factory.mktemp("base_ssh"), "base", "sshd_effective.yml", hosts, common={})
    return {case: messages for case, (messages, _) in outcome.items()}


@pytest.mark.parametrize("case", CASES)
def test_effective_sshd_settings_are_checked(outcome, case):
    named = CASES[case][2]
    message = " ".join(outcome[case])
    if not named:
        assert outcome[case] == []
    for text in named:
        assert text in message, message
