"""Role `base` as it stands on the converged container (testinfra)."""

import pytest

SSH_DROPIN = "/etc/ssh/sshd_config.d/00-xnat-enclave.conf"
CLOUD_INIT_DROPIN = "/etc/ssh/sshd_config.d/50-cloud-init.conf"  # planted by prepare.yml
OLD_DROPIN = "/etc/ssh/sshd_config.d/50-xnat-enclave.conf"


def test_timezone_is_london(host):
    assert host.file("/etc/localtime").linked_to.endswith("Europe/London")
    assert host.run("date +%Z").stdout.strip() in {"GMT", "BST"}


def test_locale_is_en_gb(host):
    assert "LANG=en_GB.UTF-8" in host.file("/etc/default/locale").content_string
    assert "en_GB.utf8" in host.run("locale -a").stdout


def test_chrony_uses_only_trust_servers_and_is_enabled(host):
    # chrony cannot run in a container (no CAP_SYS_TIME): configuration and enablement only.
    conf = host.file("/etc/chrony/chrony.conf").content_string
    servers = [line.split()[1] for line in conf.splitlines() if line.startswith(("server", "pool"))]
    assert servers == ["ntp1.trust.example.nhs.uk", "ntp2.trust.example.nhs.uk"]
    assert host.service("chrony").is_enabled


def test_service_account_is_non_root_without_login(host):
    user = host.user("xnat")
    assert user.exists
    assert user.uid != 0
    assert user.uid < 1000, "a system account"
    assert user.shell == "/usr/sbin/nologin"
    assert user.password in {"!", "!*", "*"} or user.password.startswith("!")
    home = host.file("/opt/xnat")
    assert home.is_directory
    assert home.user == "xnat"
    assert home.mode == 0o750


def test_unattended_upgrades_security_only(host):
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    config = host.run("apt-config dump Unattended-Upgrade::Origins-Pattern").stdout
    origins = [line for line in config.splitlines() if "Origins-Pattern::" in line]
    assert origins, config
    assert all("Debian-Security" in line for line in origins), origins
    assert (
        'Unattended-Upgrade::Automatic-Reboot "false"'
        in host.run("apt-config dump Unattended-Upgrade::Automatic-Reboot").stdout
    )
    # Dry run proves the configuration parses and the tool works on this host.
    dry_run = host.run("unattended-upgrade --dry-run")
    assert dry_run.rc == 0, dry_run.stderr
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_audit_rules_installed_and_auditd_enabled(host):
    # auditd cannot run in a container (the audit subsystem is the host kernel's):
    # rules and enablement only.
    rules = host.file("/etc/audit/rules.d/50-xnat-enclave.rules")
    assert rules.mode == 0o640
    for watched in ("/etc/passwd -p wa -k identity", "/etc/sudoers -p wa", "/data/xnat/home/config -p wa"):
        assert watched in rules.content_string
    assert host.service("auditd").is_enabled
    assert "max_log_file_action = ROTATE" in host.file("/etc/audit/auditd.conf").content_string


def test_cloud_init_dropin_says_the_opposite(host):
    # Planted by prepare.yml; without it the next test would prove nothing.
    planted = host.file(CLOUD_INIT_DROPIN)
    assert planted.exists
    assert "PasswordAuthentication yes" in planted.content_string
    assert not host.file(OLD_DROPIN).exists, "the earlier releases' drop-in is removed"
    dropins = host.run("ls /etc/ssh/sshd_config.d").stdout.split()
    assert dropins[0] == "00-xnat-enclave.conf", dropins
    assert host.file(SSH_DROPIN).mode == 0o600


def test_sshd_effective_configuration_is_hardened(host):
    # What sshd uses, having read sshd_config, the role's drop-in and the planted cloud-init one.
    effective = host.run("sshd -T")
    assert effective.rc == 0, effective.stderr
    lines = set(effective.stdout.lower().splitlines())
    expected = {
        "permitrootlogin no",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "permitemptypasswords no",
        "pubkeyauthentication yes",
        "x11forwarding no",
        "allowtcpforwarding no",
        "allowagentforwarding no",
        "maxauthtries 3",
        "logingracetime 30",
        "clientaliveinterval 300",
        "clientalivecountmax 2",
        "loglevel verbose",
    }
    assert expected <= lines, expected - lines
    # Port and ListenAddress add up across files: only the role's own.
    assert {line for line in lines if line.startswith("port ")} == {"port 2222"}
    assert {line for line in lines if line.startswith("listenaddress ")} == {"listenaddress 127.0.0.1:2222"}
    ciphers = next(line for line in lines if line.startswith("ciphers "))
    assert "cbc" not in ciphers
    assert "3des" not in ciphers


def test_sshd_offers_public_keys_only(host):
    # The running server's answer: password and keyboard-interactive are not offered at all.
    attempt = host.run(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p 2222 "
        "nobody@127.0.0.1 true"
    )
    assert attempt.rc != 0
    assert "Permission denied (publickey)." in attempt.stderr, attempt.stderr


def test_sshd_runs_on_configured_port_only(host):
    assert host.service("ssh").is_running
    assert host.socket("tcp://127.0.0.1:2222").is_listening
    assert not host.socket("tcp://0.0.0.0:22").is_listening


@pytest.mark.parametrize("weak", ["aes128-cbc", "3des-cbc"])
def test_sshd_refuses_weak_ciphers(host, weak):
    query = host.run(
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=no -c {weak} -p 2222 root@127.0.0.1 true"
    )
    assert query.rc != 0
    assert "no matching cipher" in query.stderr.lower()
