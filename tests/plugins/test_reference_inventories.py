"""The reference inventories' configure-layer settings that XNAT's plugins depend on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_FILES = sorted(REPO.glob("inventories/*/group_vars/*/xnat_config.yml"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: path.parent.name)
def test_receivers_for_dqr_have_custom_processing_on(path):
    """DQR refuses an import with a relabel map unless the receiving SCP has custom processing on."""
    receivers = yaml.safe_load(path.read_text()).get("xnat_config_receivers") or []
    for_dqr = [r for r in receivers if r.get("identifier") == "dqrObjectIdentifier"]
    assert for_dqr, f"{path}: no receiver uses dqrObjectIdentifier"
    assert all(r.get("custom_processing") is True for r in for_dqr), path


def test_every_reference_inventory_is_checked():
    assert {path.parent.name for path in CONFIG_FILES} >= {"trust_a", "trust_b", "local_trust"}
