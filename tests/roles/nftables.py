"""What an nftables ruleset lets in, read from the kernel's own listing (`nft -j list table ...`).

Shared by tests/roles/test_firewall.py (rules rendered on the controller) and the molecule xnat_host verify
(the rules the role wrote on the host). Both load the rules into a private network namespace
(`unshare -rn`), so the kernel parses them, and judge what the kernel lists, not the file's text: a rule
that an injected AE title smuggled in (`";accept#` ends the comment and leaves a bare `accept`) is seen.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass, field

TABLE = "inet xnat_enclave"
# Accept rules that need no source match, each one match with one of these values: return traffic, loopback,
# ICMP/ICMPv6. Any other value (`ct state new accept`) or any further match is a hole.
_BASELINE = {
    ("ct", "state"): {frozenset({"established", "related"})},
    ("meta", "iif"): {frozenset({"lo"})},
    ("meta", "l4proto"): {frozenset({"icmp"}), frozenset({"ipv6-icmp"})},
}


def load_and_list(rules_file: str) -> str:
    """Shell command: load the rules into a throwaway network namespace and list the table as JSON."""
    return (
        f"unshare -rn sh -c {shlex.quote(f'nft -f {shlex.quote(rules_file)} && nft -j list table {TABLE}')}"
    )


def check_only(rules_file: str) -> str:
    """Shell command: `nft -c` (parse and check, load nothing), in a throwaway network namespace."""
    return f"unshare -rn nft -c -f {shlex.quote(rules_file)}"


@dataclass
class Ruleset:
    policy: str | None = None
    # (sources, ports) of every accept rule that is limited by source address and port.
    accepts: list[tuple[frozenset, frozenset]] = field(default_factory=list)
    # Accept rules limited by neither a source nor a port, other than the baseline: holes.
    unrestricted: list[dict] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def sources_of(self, port: int) -> set:
        """The addresses allowed to reach a TCP port, as the fewest networks (nft merges adjacent blocks)."""
        return networks(*(source for sources, ports in self.accepts if port in ports for source in sources))


def networks(*blocks: object) -> set:
    """CIDR blocks (strings or networks) collapsed to the fewest networks that cover the same addresses."""
    parsed = [ipaddress.ip_network(block) for block in blocks]
    return {
        network
        for version in (4, 6)
        for network in ipaddress.collapse_addresses(block for block in parsed if block.version == version)
    }


def _networks(right: object) -> frozenset:
    items = right["set"] if isinstance(right, dict) and "set" in right else [right]
    networks = set()
    for item in items:
        if isinstance(item, dict) and "prefix" in item:
            networks.add(ipaddress.ip_network(f"{item['prefix']['addr']}/{item['prefix']['len']}"))
        elif isinstance(item, dict) and "range" in item:
            first, last = (ipaddress.ip_address(end) for end in item["range"])
            networks.update(ipaddress.summarize_address_range(first, last))
        else:
            networks.add(ipaddress.ip_network(item))
    return frozenset(networks)


def _ports(right: object) -> frozenset:
    items = right["set"] if isinstance(right, dict) and "set" in right else [right]
    ports = set()
    for item in items:
        if isinstance(item, dict) and "range" in item:
            ports.update(range(item["range"][0], item["range"][1] + 1))
        else:
            ports.add(int(item))
    return frozenset(ports)


def _values(right: object) -> frozenset:
    """A match's right-hand side as a set of strings (anything but a plain value or list as its JSON)."""
    items = right if isinstance(right, list) else [right]
    return frozenset(item if isinstance(item, str) else json.dumps(item, sort_keys=True) for item in items)


def _is_baseline(matches: list) -> bool:
    """One match, of a baseline key, with one of its baseline values."""
    return len(matches) == 1 and matches[0][1] in _BASELINE.get(matches[0][0], set())


def parse(listing: str) -> Ruleset:
    """Read `nft -j list table inet xnat_enclave`: the input policy and what each accept rule lets in."""
    ruleset = Ruleset()
    for entry in json.loads(listing)["nftables"]:
        if "chain" in entry and entry["chain"].get("hook") == "input":
            ruleset.policy = entry["chain"].get("policy")
        rule = entry.get("rule")
        if rule and "comment" in rule:
            ruleset.comments.append(rule["comment"])
        if not rule or not any("accept" in expr for expr in rule["expr"]):
            continue
        sources = ports = None
        others = []
        for expr in rule["expr"]:
            match = expr.get("match")
            if not match:
                continue
            left = match["left"]
            if "payload" in left and left["payload"]["field"] == "saddr":
                sources = _networks(match["right"])
            elif "payload" in left and left["payload"]["field"] == "dport":
                ports = _ports(match["right"])
            else:
                key = next(((kind, value["key"]) for kind, value in left.items() if "key" in value), None)
                others.append((key, _values(match["right"])))
        if sources is not None and ports is not None:
            ruleset.accepts.append((sources, ports))
        elif sources is not None or ports is not None or not _is_baseline(others):
            ruleset.unrestricted.append(rule)
    return ruleset
