"""The access review of a trust the toolkit has just configured finds nothing of the toolkit's own making.

The real configure layer (playbooks/configure.yml with the rehearsal inventory, inventories/local/)
runs against a fresh XNAT double, as `make demo` runs it; then `enclave access review` reads that XNAT
as the audit account with the rehearsal's access list. The default admin (disabled by the configure
layer), the service accounts and the accounts created a minute ago must not be findings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from compliance.cli import main

REPO = Path(__file__).resolve().parents[3]
INVENTORY = REPO / "inventories" / "local"
VAULT_PASSWORD = INVENTORY / "vault-password.TEST-ONLY"
ACCESS_LIST = INVENTORY / "access" / "local_trust.yml"


def vault_value(name: str) -> str:
    """One inline-vaulted value of the rehearsal's vault.yml, decrypted with its TEST-ONLY password."""
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415 - ansible is slow to import

    class VaultLoader(yaml.SafeLoader):
        pass

    VaultLoader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    # a SafeLoader that also reads !vault scalars as text
    document = yaml.load(
        (INVENTORY / "group_vars" / "local_trust" / "vault.yml").read_text(), Loader=VaultLoader
    )
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.read_bytes().strip()))])
    return vault.decrypt(document[name]).decode()


@pytest.fixture
def configured_rehearsal_xnat(xnat_double, tmp_path: Path) -> str:
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
    if playbook is None:
        pytest.skip("ansible-playbook is not installed next to this Python")
    environ = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path))
    done = subprocess.run(
        [
            playbook,
            "playbooks/configure.yml",
            "-i",
            str(INVENTORY),
            "--vault-password-file",
            str(VAULT_PASSWORD),
            "-e",
            "ansible_connection=local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"xnat_config_url={xnat_double.url}",
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return xnat_double.url


def test_a_freshly_configured_rehearsal_trust_reviews_clean(
    configured_rehearsal_xnat, monkeypatch, tmp_path, capsys
):
    password = vault_value("vault_audit_xnat_password")
    profiles = requests.get(
        f"{configured_rehearsal_xnat}/xapi/users/profiles", auth=("svc_audit", password), timeout=30
    ).json()
    by_name = {profile["username"]: profile for profile in profiles}
    # what the review is about: the default admin is there but disabled, the accounts never logged in
    assert by_name["admin"]["enabled"] is False
    assert {"svc_audit", "alice", "bob", "carol"} <= set(by_name)
    assert not any(by_name[name].get("lastSuccessfulLogin") for name in ("alice", "bob", "carol"))
    monkeypatch.setenv("XNAT_USER", "svc_audit")
    monkeypatch.setenv("XNAT_PASS", password)
    monkeypatch.setenv("NETRC", "/dev/null")
    status = main(
        [
            "access",
            "review",
            "--xnat",
            configured_rehearsal_xnat,
            "--access-list",
            str(ACCESS_LIST),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["counts"]["users"] == len(by_name)
    assert report["findings"] == []
    assert report["summary"]["by_severity"] == dict.fromkeys(report["summary"]["by_severity"], 0)
    assert status == 0
