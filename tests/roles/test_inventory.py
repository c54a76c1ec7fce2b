"""The two-trust reference inventory resolves to the host-layer variables the roles expect.

Uses ansible's debug action, which runs on the controller: the documentation addresses
(RFC 5737) in the inventory are never contacted.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories/trusts"
VAULT_PASSWORD_FILE = INVENTORY / "vault-password.TEST-ONLY"
XNAT_HOSTS = {"xnat-a.trust-a.example.nhs.uk", "xnat-b.trust-b.example.nhs.uk"}
AUDIT_HOSTS = {"audit-a.trust-a.example.nhs.uk", "audit-b.trust-b.example.nhs.uk"}


def ansible(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    return subprocess.run(
        [*args, "-i", str(INVENTORY), "--vault-password-file", str(VAULT_PASSWORD_FILE)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def inventory():
    result = ansible(str(REPO / ".venv/bin/ansible-inventory"), "--list")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_groups(inventory):
    assert set(inventory["xnat_servers"]["hosts"]) == XNAT_HOSTS
    assert set(inventory["audit_hosts"]["hosts"]) == AUDIT_HOSTS
    assert set(inventory["trusts"]["children"]) == {"trust_a", "trust_b"}


def test_no_stray_hosts_from_files_beside_the_inventory(inventory):
    # The access lists and the vault password file must not be parsed as inventory sources
    # (ansible.cfg [inventory] ignore_patterns).
    assert inventory.get("ungrouped", {}).get("hosts", []) == []
    everything = set(inventory["_meta"]["hostvars"])
    assert everything == XNAT_HOSTS | AUDIT_HOSTS


class _VaultLoader(yaml.SafeLoader):
    """Reads `!vault` values as their ciphertext."""


_VaultLoader.add_constructor("!vault", lambda loader, node: {"vault": loader.construct_scalar(node)})
VAULT_NAMES = {
    "vault_xnat_admin_password",
    "vault_xnat_service_password",
    "vault_postgresql_xnat_password",
    "vault_audit_xnat_password",
    "vault_import_pseudonym_key",
}


@pytest.mark.parametrize("trust", ["trust_a", "trust_b"])
def test_every_secret_is_vault_encrypted(trust):
    secrets = yaml.load((INVENTORY / "group_vars" / trust / "vault.yml").read_text(), Loader=_VaultLoader)
    assert set(secrets) == VAULT_NAMES
    for value in secrets.values():
        assert value["vault"].startswith("$ANSIBLE_VAULT;1.1;AES256")


def test_host_layer_wiring_resolves():
    expression = (
        "{{ {'receivers': firewall_dicom_receivers | map(attribute='allowed_sources') | list,"
        " 'same_db_password': postgresql_xnat_password == xnat_db_password,"
        " 'db_password_length': postgresql_xnat_password | length,"
        " 'server_name': nginx_server_name, 'https': firewall_https_allowed_sources} | to_json }}"
    )
    result = ansible(
        str(REPO / ".venv/bin/ansible"),
        "xnat_servers",
        "-m",
        "ansible.builtin.debug",
        "-a",
        f"msg={expression}",
        "-o",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = {}
    for line in result.stdout.splitlines():
        host, _, payload = line.partition(" | SUCCESS => ")
        resolved[host] = json.loads(json.loads(payload)["msg"])
    assert set(resolved) == XNAT_HOSTS
    for values in resolved.values():
        assert values["same_db_password"]
        assert values["db_password_length"] >= 12
        assert values["receivers"] and all(values["receivers"])  # every receiver limited to its PACS
        assert values["https"]
    assert resolved["xnat-a.trust-a.example.nhs.uk"]["server_name"] == "xnat.trust-a.nhs.uk"
