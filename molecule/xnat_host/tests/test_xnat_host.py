"""Verify the hosts layer converged by molecule/xnat_host (testinfra, run inside the container).

The WAR, plugin jars and Tomcat archive deployed here are STAND-INS built by
scripts/build-standin-artifacts (XNAT and Apache downloads are impossible in CI): the
Tomcat archive is assembled from Debian bullseye's tomcat9 packages, the WAR is a static
page. The tampered-artifact rejection is tested in tests/roles/test_artifact_checksums.py.
"""

import json
import shlex

import pytest

from tests.roles import nftables  # the repository root is on sys.path (pyproject: pythonpath)

DB_PASSWORD = "molecule-test-only-db-password"  # TEST-ONLY, from molecule.yml
WAR_MARKER = "xnat-enclave stand-in XNAT web application"
XNAT_HOME = "/data/xnat/home"
UPGRADE_WAR = "/var/cache/xnat-enclave/artifacts/xnat-web-1.9.3-standin.war"  # staged by side_effect.yml
PLUGINS = ["container-service-3.8.1-fat.jar", "dicom-query-retrieve-3.0.0-xpl.jar"]


@pytest.fixture
def upgraded(host):
    """True when side_effect.yml (the upgrade path) has run after converge."""
    return host.file(UPGRADE_WAR).exists


@pytest.fixture
def war_version(upgraded):
    return "1.9.3-standin" if upgraded else "1.9.2-standin"


FETCH = """
import json, ssl, sys, urllib.error, urllib.request
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
try:
    response = opener.open(sys.argv[1], timeout=10)
except urllib.error.HTTPError as error:
    response = error
print(json.dumps({"status": response.status, "headers": dict(response.headers),
                  "body": response.read().decode(errors="replace")}))
"""


def fetch(host, url):
    result = host.run(f"python3 -c {shlex.quote(FETCH)} {shlex.quote(url)}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def psql(host, sql, database="xnat", password=DB_PASSWORD, user="xnat"):
    connect = f"psql -h 127.0.0.1 -U {user} -d {database}"
    return host.run(f"PGPASSWORD={shlex.quote(password)} {connect} -tAc {shlex.quote(sql)}")


# --- services ------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["postgresql@15-main", "tomcat", "nginx"])
def test_service_running_and_enabled(host, service):
    unit = host.service(service)
    assert unit.is_running
    assert unit.is_enabled


def test_backup_timer_active(host):
    timer = host.service("xnat-db-backup.timer")
    assert timer.is_running
    assert timer.is_enabled
    assert "02:30" in host.file("/etc/systemd/system/xnat-db-backup.timer").content_string


# --- ports (network_mode host: these are the HOST's sockets) ---------------------------


@pytest.mark.parametrize(
    ("spec", "listening"),
    [
        ("tcp://127.0.0.1:5432", True),
        ("tcp://0.0.0.0:5432", False),
        ("tcp://0.0.0.0:8080", False),
        ("tcp://0.0.0.0:443", True),
        ("tcp://0.0.0.0:80", True),
    ],
)
def test_ports(host, spec, listening):
    assert host.socket(spec).is_listening is listening


@pytest.mark.parametrize(
    ("port", "loopback"),
    [
        (5432, {"127.0.0.1:5432", "[::1]:5432"}),
        # Java binds IPv4 loopback through an IPv4-mapped IPv6 socket.
        (8080, {"127.0.0.1:8080", "[::ffff:127.0.0.1]:8080"}),
    ],
)
def test_listening_on_loopback_only(host, port, loopback):
    fields = host.run(f"ss -Hltn 'sport = :{port}'").stdout.split()
    local = [field for field in fields if field.endswith(f":{port}") and not field.startswith("*")]
    assert local, f"nothing listens on port {port}"
    assert set(local) <= loopback, local


# --- files holding secrets ---------------------------------------------------------------


def test_xnat_conf_properties_protected(host):
    conf = host.file(f"{XNAT_HOME}/config/xnat-conf.properties")
    assert conf.user == "tomcat"
    assert conf.group == "tomcat"
    assert conf.mode == 0o640
    assert "jdbc:postgresql://127.0.0.1:5432/xnat" in conf.content_string


def test_prefs_init(host):
    prefs = host.file(f"{XNAT_HOME}/config/prefs-init.ini")
    assert prefs.mode == 0o640
    assert "archivePath=/data/xnat/archive" in prefs.content_string


@pytest.mark.parametrize(
    ("path", "user", "mode"),
    [
        ("/etc/nginx/tls/server.key", "root", 0o600),
        ("/etc/postgresql/15/main/pg_hba.conf", "postgres", 0o600),
        ("/var/backups/postgresql", "postgres", 0o700),
        ("/data/xnat/archive", "tomcat", 0o750),
        ("/var/lib/tomcat/conf/server.xml", "root", 0o640),
    ],
)
def test_owner_and_mode(host, path, user, mode):
    target = host.file(path)
    assert target.exists
    assert target.user == user
    assert target.mode == mode


def test_tomcat_runs_unprivileged_with_xnat_home(host):
    process = host.process.get(comm="java")
    assert process.user == "tomcat"
    assert f"-Dxnat.home={XNAT_HOME}" in process.args
    assert "-Xmx512m" in process.args


def test_plugins_deployed_and_pinned_only(host, upgraded):
    # The upgrade drops the DQR plugin from the pinned list: its jar must be gone.
    jars = sorted(host.file(f"{XNAT_HOME}/plugins").listdir())
    assert jars == (PLUGINS[:1] if upgraded else PLUGINS)


# --- nginx / TLS -------------------------------------------------------------------------


def s_client(host, option, extra=""):
    return host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername localhost {option} {extra} </dev/null"
    )


def test_tls11_refused(host):
    # SECLEVEL=0 lets the CLIENT offer TLS 1.1 (OpenSSL 3 refuses it by default), so a
    # failure here is the server's refusal, not the client's.
    result = s_client(host, "-tls1_1", "-cipher 'DEFAULT@SECLEVEL=0'")
    assert result.rc != 0
    assert "alert protocol version" in result.stderr


@pytest.mark.parametrize(("option", "protocol"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_tls13_accepted(host, option, protocol):
    result = s_client(host, option)
    assert result.rc == 0, result.stderr
    assert f"New, {protocol}, Cipher is" in result.stdout


def test_http_redirects_to_https(host):
    response = fetch(host, "http://127.0.0.1/some/path?x=1")
    assert response["status"] == 301
    assert response["headers"]["Location"] == "https://127.0.0.1/some/path?x=1"


def test_hsts_and_war_served_through_nginx(host, war_version):
    response = fetch(host, "https://127.0.0.1/")
    assert response["status"] == 200
    assert "max-age=63072000" in response["headers"]["Strict-Transport-Security"]
    assert f"{WAR_MARKER} {war_version}" in response["body"]
    assert "nginx/" not in response["headers"].get("Server", "")


CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'self'; object-src 'none'"
)


def test_nginx_configuration_is_valid(host):
    check = host.run("nginx -t")
    assert check.rc == 0, check.stderr
    # What nginx loaded, not the template: the limits sit in the http block, so they cover both servers.
    effective = host.run("nginx -T").stdout
    for directive in (
        "client_max_body_size 20g;",
        "limit_conn xnat_conn_per_ip 5;",
        "limit_req zone=xnat_req_per_ip burst=10 delay=5;",
        "limit_req_zone $binary_remote_addr zone=xnat_req_per_ip:10m rate=5r/s;",
    ):
        assert directive in effective, directive


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_security_headers_on_every_response(host, path):
    response = fetch(host, f"https://127.0.0.1{path}")
    assert response["status"] == (200 if path == "/" else 404)
    headers = response["headers"]
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["X-Content-Type-Options"] == "nosniff"


# Sends one request on each of `count` TLS connections opened from source address `source` (its own limit
# key), all at once, and prints each connection's status code, or null when none came within `wait` seconds.
# Only the status line is read: the rest of a response stays unread while the script runs.
BURST = """
import json, socket, ssl, sys, threading
count, source, method, path, length, wait = sys.argv[1:7]
count, wait = int(count), float(wait)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
connections = [
    context.wrap_socket(socket.create_connection(("127.0.0.1", 443), source_address=(source, 0)),
                        server_hostname="localhost")
    for _ in range(count)
]
request = f"{method} {path} HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: {length}\\r\\n\\r\\n".encode()
statuses = [None] * count
def read(number):
    try:
        statuses[number] = int(connections[number].recv(64).split()[1])
    except (OSError, IndexError, ValueError):
        pass
for connection in connections:
    connection.sendall(request)
readers = [threading.Thread(target=read, args=(number,), daemon=True) for number in range(count)]
for reader in readers:
    reader.start()
for reader in readers:
    reader.join(timeout=wait)
print(json.dumps(statuses))
"""


def burst(host, count, source, *, method="GET", path="/", length=0, wait=5):
    arguments = " ".join(shlex.quote(str(value)) for value in (count, source, method, path, length, wait))
    result = host.run(f"python3 -c {shlex.quote(BURST)} {arguments}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def large_download(host):
    """A 64 MB file in the deployed webapp: while its client reads nothing, the download stays in progress."""
    path = "/var/lib/tomcat/webapps/ROOT/limit-probe.bin"
    assert host.run(f"head -c 67108864 /dev/zero > {path} && chmod 0644 {path}").rc == 0
    yield "/limit-probe.bin"
    host.run(f"rm -f {path}")


def test_upload_larger_than_the_limit_is_refused(host):
    # 20g + 1 byte, declared: nginx refuses it on the header, before any body is sent.
    assert burst(host, 1, "127.0.0.4", method="POST", length=20 * 1024**3 + 1) == [413]


def test_requests_in_progress_per_client_are_limited(host, large_download):
    # Eight downloads at once from one address, none read: five proceed (nginx_limit_conn_per_ip 5) and
    # three are refused. The burst (10) is not reached, so the refusals are limit_conn's.
    statuses = burst(host, 8, "127.0.0.2", path=large_download)
    assert sorted(statuses, key=str) == [200] * 5 + [429] * 3, statuses
    assert (
        'limiting connections by zone "xnat_conn_per_ip"'
        in host.file("/var/log/nginx/error.log").content_string
    )


def test_request_rate_per_client_is_limited(host):
    # Thirty requests at once from one address: rate 5/s with a burst of 10, so about nineteen are refused.
    statuses = burst(host, 30, "127.0.0.3")
    assert statuses.count(429) >= 15, statuses
    assert statuses.count(200) >= 5, statuses
    assert set(statuses) <= {200, 429}, statuses
    assert 'by zone "xnat_req_per_ip"' in host.file("/var/log/nginx/error.log").content_string


def test_exploded_webapp_is_the_deployed_war(host, war_version):
    # After an upgrade the old exploded ROOT must have been cleared and the new WAR unpacked.
    assert host.file("/var/lib/tomcat/webapps/ROOT/WEB-INF/web.xml").exists
    assert war_version in host.file("/var/lib/tomcat/webapps/ROOT/index.html").content_string


# --- PostgreSQL ------------------------------------------------------------------------


def test_pg_hba_only_scram_for_tcp(host):
    lines = [
        line.split()
        for line in host.file("/etc/postgresql/15/main/pg_hba.conf").content_string.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    host_rules = [fields for fields in lines if fields[0].startswith("host")]
    assert host_rules
    assert all(fields[-1] == "scram-sha-256" for fields in host_rules)
    assert all(fields[1] == "xnat" and fields[2] == "xnat" for fields in host_rules)
    assert not any("trust" in fields or "md5" in fields for fields in lines)
    assert ["local", "all", "postgres", "peer"] in lines


def test_pg_hba_rules_postgresql_loaded(host):
    # The rules the server parsed from pg_hba.conf (pg_hba_file_rules), not the file's text.
    rules = host.run(
        "runuser -u postgres -- psql -tA -F ' ' -c \"select type, array_to_string(database, ','), "
        "array_to_string(user_name, ','), coalesce(address, '-'), auth_method, coalesce(error, 'ok') "
        'from pg_hba_file_rules order by line_number"'
    )
    assert rules.rc == 0, rules.stderr
    assert rules.stdout.splitlines() == [
        "local all postgres - peer ok",
        "local xnat xnat - scram-sha-256 ok",
        "host xnat xnat 127.0.0.1 scram-sha-256 ok",
        "host xnat xnat ::1 scram-sha-256 ok",
    ]


def test_scram_login_works_and_wrong_password_fails(host):
    assert psql(host, "select 1").stdout.strip() == "1"
    wrong = psql(host, "select 1", password="not-the-password")
    assert wrong.rc != 0
    assert "password authentication failed" in wrong.stderr


def test_password_stored_as_scram_verifier(host):
    result = host.run(
        "runuser -u postgres -- psql -tAc \"select rolpassword like 'SCRAM-SHA-256$%' from pg_authid "
        "where rolname = 'xnat'\""
    )
    assert result.stdout.strip() == "t"


def test_backup_then_restore_round_trip(host):
    setup = psql(
        host,
        "drop table if exists restore_probe; create table restore_probe(v text); "
        "insert into restore_probe values ('round-trip');",
    )
    assert setup.rc == 0, setup.stderr
    backup = host.run("/usr/local/sbin/xnat-db-backup")
    assert backup.rc == 0, backup.stderr
    dump = backup.stdout.strip().rsplit(" ", 1)[-1]
    assert host.file(dump).user == "postgres"
    assert host.file(dump).mode == 0o600
    assert host.file(f"{dump}.sha256").exists
    psql(host, "drop table restore_probe")

    refused = host.run(f"/usr/local/sbin/xnat-db-restore {dump}")
    assert refused.rc != 0
    assert "live database" in refused.stderr

    drill = host.run(f"/usr/local/sbin/xnat-db-restore --target xnat_restore_drill {dump}")
    assert drill.rc == 0, drill.stderr
    # pg_hba lets the xnat role reach only the xnat database: read the drill copy as postgres.
    restored = host.run(
        "runuser -u postgres -- psql -d xnat_restore_drill -tAc 'select v from restore_probe'"
    )
    assert restored.stdout.strip() == "round-trip", restored.stderr
    owner = host.run(
        "runuser -u postgres -- psql -d xnat_restore_drill -tAc "
        "\"select tableowner from pg_tables where tablename = 'restore_probe'\""
    )
    assert owner.stdout.strip() == "xnat"
    host.run("runuser -u postgres -- dropdb xnat_restore_drill")
    psql(host, "drop table if exists restore_probe")


def test_restore_rejects_damaged_dump(host):
    backup = host.run("/usr/local/sbin/xnat-db-backup")
    dump = backup.stdout.strip().rsplit(" ", 1)[-1]
    host.run(f"printf x >> {dump}")
    result = host.run(f"/usr/local/sbin/xnat-db-restore --target xnat_restore_drill {dump}")
    assert result.rc != 0
    assert "does not match" in result.stderr
    host.run(f"rm -f {dump} {dump}.sha256")


# --- Docker: the engine cannot run inside this container; its configuration is checked ---


def test_docker_configured_without_tcp_socket(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert not any(h.startswith("tcp://") for h in config.get("hosts", []))
    assert config["log-driver"] == "json-file"
    # CIS Docker Benchmark 2.2, 2.3, 2.14-2.16, 5.13: what dockerd reads from daemon.json when it starts.
    assert config["icc"] is False
    assert config["ip"] == "127.0.0.1"
    assert config["log-level"] == "info"
    assert config["no-new-privileges"] is True
    assert config["live-restore"] is True
    assert config["userland-proxy"] is False
    assert not host.file("/etc/systemd/system/docker.service.d/xnat-enclave.conf").exists
    assert host.service("docker").is_enabled
    assert "docker" in host.user("tomcat").groups


def test_docker_files_are_audited(host):
    # CIS Docker Benchmark 1.1.x: auditd watches the engine, its configuration and its units (here only
    # written: auditd cannot run in a container), each a real file of the installed engine.
    rules = host.file("/etc/audit/rules.d/60-xnat-enclave-docker.rules")
    assert rules.mode == 0o640
    watched = [line.split()[1] for line in rules.content_string.splitlines() if line.startswith("-w ")]
    for path in (
        "/usr/sbin/dockerd",
        "/etc/docker",
        "/etc/docker/daemon.json",
        "/usr/lib/systemd/system/docker.service",
    ):
        assert path in watched, watched
    for path in watched:
        assert host.file(path).exists and not host.file(path).is_symlink, path


# --- firewall: no NET_ADMIN on the host's namespace here, so the rules are loaded into a
# --- private network namespace (unshare) instead of the host's ----------------------------

RULES = "/etc/nftables.d/xnat-enclave.nft"


def test_firewall_rules_load_in_a_private_namespace(host):
    result = host.run(f"unshare -rn sh -c 'nft -f {RULES} && nft list table inet xnat_enclave'")
    assert result.rc == 0, result.stderr
    assert "policy drop" in result.stdout


def test_firewall_rules_admit_only_the_listed_sources(host):
    # What the kernel holds once it has parsed the file: no accept rule without a source and a port, and
    # each port only from its own sources, whatever the receivers' AE titles (two are hostile).
    assert host.run(nftables.check_only(RULES)).rc == 0
    listing = host.run(nftables.load_and_list(RULES))
    assert listing.rc == 0, listing.stderr
    ruleset = nftables.parse(listing.stdout)
    assert ruleset.policy == "drop"
    assert ruleset.unrestricted == []
    networks = nftables.networks
    assert ruleset.sources_of(8104) == networks("192.0.2.10/32", "192.0.2.11/32")
    assert ruleset.sources_of(8105) == networks("192.0.2.12/32")
    assert ruleset.sources_of(8106) == networks("2001:db8:a::12/128")
    assert ruleset.sources_of(443) == networks("192.0.2.0/24", "2001:db8:a::/48")
    assert ruleset.sources_of(22) == networks("192.0.2.5/32")
    assert ruleset.sources_of(5432) == ruleset.sources_of(8080) == set()
    # Each hostile AE title stayed inside its own comment, as its sanitised label.
    assert "DICOM receiver __accept_ from its PACS/modalities" in ruleset.comments
    assert "DICOM receiver X___ accept ___ from its PACS/modalities" in ruleset.comments


def test_firewall_rules_content(host):
    rules = host.file(RULES).content_string
    assert "ip saddr { 192.0.2.10/32, 192.0.2.11/32 } tcp dport { 8104 } accept" in rules
    assert "ip saddr { 192.0.2.0/24 } tcp dport { 80, 443 } accept" in rules
    assert "5432" not in rules
    assert "8080" not in rules
    assert "flush ruleset" not in rules  # Docker's tables are left alone


def test_firewall_service_installed_not_applied_in_container(host):
    unit = host.service("xnat-enclave-firewall")
    assert not unit.is_running
    assert (
        f"ExecStart=/usr/sbin/nft -f {RULES}"
        in host.file("/etc/systemd/system/xnat-enclave-firewall.service").content_string
    )
