"""Stand-in artifacts for testing the host roles.

Neither an XNAT WAR, an XNAT plugin jar nor an Apache Tomcat archive can be downloaded
in CI or in this sandbox, so the tests build stand-ins and feed them through the very
same artifacts-directory path (and checksum checks) that an air-gapped trust uses:

- a Tomcat 9 archive laid out like ``apache-tomcat-9.0.x.tar.gz`` but assembled from
  Debian bullseye's ``tomcat9``/``tomcat9-common``/``libtomcat9-java`` packages and the
  Eclipse compiler Jasper needs (the Debian mirror is reachable; Apache's is not). The
  .debs are pinned by the sha256 Debian publishes in its signed package index;
- a minimal WAR (static ``index.html`` + ``WEB-INF/web.xml``) that Tomcat deploys;
- stand-in plugin jars named like the real container-service and DQR plugins.

Everything is built reproducibly (fixed timestamps, sorted entries) so its checksums
are stable, and cached under ``.cache/artifacts/`` keyed by the recipe, so CI reruns
cost nothing. ``scripts/build-standin-artifacts`` is the command-line front end.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bullseye"
# Debian's published sha256 of each package (from dists/bullseye/main/binary-all/Packages).
PINNED_DEBS: dict[str, tuple[str, str]] = {
    "tomcat9": (
        "pool/main/t/tomcat9/tomcat9_9.0.43-2~deb11u10_all.deb",
        "0dd30fee78ecd3980e9ee3ba018071755ddf84e2288b860900709f1013e368ed",
    ),
    "tomcat9-common": (
        "pool/main/t/tomcat9/tomcat9-common_9.0.43-2~deb11u10_all.deb",
        "e896789aa46b2de7fedd3cbcd5bd60e6c6738259314cb299e58d146eb571be27",
    ),
    "libtomcat9-java": (
        "pool/main/t/tomcat9/libtomcat9-java_9.0.43-2~deb11u10_all.deb",
        "8d9a9a69e8b7264e48058a34ebff5a1aed4d6200eca43dc3031b5ddfa6a06988",
    ),
    "libeclipse-jdt-core-java": (
        "pool/main/e/eclipse-jdt-core/libeclipse-jdt-core-java_3.24.0+eclipse4.18-1_all.deb",
        "4984465b46ccb8e9769e422a68cd1f4db39b6f4e52d0e9c387ca5d10d20b3166",
    ),
}
STANDIN_TOMCAT_VERSION = "9.0.43"
STANDIN_XNAT_VERSION = "1.9.2-standin"
STANDIN_PLUGINS = (
    ("container-service", "3.8.1-fat"),
    ("dicom-query-retrieve", "3.0.0-xpl"),
)
# Bump when the build steps change: part of the cache key.
BUILDER_REVISION = "1"
FIXED_MTIME = 1_700_000_000  # any constant: makes archives byte-for-byte reproducible
WAR_MARKER = "xnat-enclave stand-in XNAT web application"


@dataclass(frozen=True)
class Artifact:
    """A built file and the checksums the roles pin it by."""

    path: str
    sha256: str
    sha512: str


def file_digest(path: Path, algorithm: str) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def describe(path: Path) -> Artifact:
    return Artifact(str(path), file_digest(path, "sha256"), file_digest(path, "sha512"))


def _download(url: str, destination: Path) -> None:
    if not url.startswith("http://deb.debian.org/"):  # only the Debian mirror is ever contacted
        raise ValueError(f"refusing to download from {url}")
    with urllib.request.urlopen(url, timeout=120) as response, destination.open("wb") as out:
        shutil.copyfileobj(response, out)


def _current_index_entry(package: str) -> tuple[str, str]:
    """Look a package up in the mirror's current index (a point release replaced the pin)."""
    url = f"{DEBIAN_MIRROR}/dists/{DEBIAN_SUITE}/main/binary-all/Packages.xz"
    with urllib.request.urlopen(url, timeout=120) as response:
        text = lzma.decompress(response.read()).decode()
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Package") == package:
            return fields["Filename"], fields["SHA256"]
    raise LookupError(f"{package} not found in {url}")


def fetch_deb(package: str, cache_dir: Path) -> Path:
    """Return a verified copy of a pinned Debian package, downloading it at most once."""
    filename, sha256 = PINNED_DEBS[package]
    cached = cache_dir / "debs" / f"{sha256}.deb"
    if cached.exists() and file_digest(cached, "sha256") == sha256:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    try:
        _download(f"{DEBIAN_MIRROR}/{filename}", partial)
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        filename, sha256 = _current_index_entry(package)
        cached = cache_dir / "debs" / f"{sha256}.deb"
        _download(f"{DEBIAN_MIRROR}/{filename}", partial)
    actual = file_digest(partial, "sha256")
    if actual != sha256:
        partial.unlink()
        raise ValueError(f"{filename}: sha256 {actual} does not match Debian's published {sha256}")
    partial.rename(cached)
    return cached


def _extract_deb(deb: Path, root: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = FIXED_MTIME
    return info


def _write_reproducible_tar_gz(source_dir: Path, top: str, destination: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(source_dir.rglob("*")):
            arcname = f"{top}/{path.relative_to(source_dir).as_posix()}"
            tar.add(path, arcname=arcname, recursive=False, filter=_tar_filter)
    with destination.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())


def _assemble_tomcat_tree(debian_root: Path, tree: Path) -> None:
    share = debian_root / "usr/share/tomcat9"
    for sub in ("bin", "conf", "lib", "logs", "temp", "webapps", "work"):
        (tree / sub).mkdir(parents=True)
    for item in sorted((share / "bin").iterdir()):
        shutil.copyfile(item.resolve(), tree / "bin" / item.name)
        (tree / "bin" / item.name).chmod(0o755 if item.suffix == ".sh" else 0o644)
    for item in sorted((share / "lib").iterdir()):
        shutil.copyfile(item.resolve(), tree / "lib" / item.name)
    shutil.copyfile(
        (debian_root / "usr/share/java/eclipse-jdt-core.jar").resolve(), tree / "lib/eclipse-jdt-core.jar"
    )
    for item in sorted((share / "etc").iterdir()):
        shutil.copyfile(item, tree / "conf" / item.name)
    for jar in tree.rglob("*.jar"):
        jar.chmod(0o644)
    for conf in (tree / "conf").iterdir():
        conf.chmod(0o600)  # as in Apache's archive
    (tree / "STANDIN-README.txt").write_text(
        "This is NOT an Apache Tomcat release archive. It is a test stand-in laid out like\n"
        f"apache-tomcat-{STANDIN_TOMCAT_VERSION}.tar.gz, built by xnat-enclave's tests from Debian\n"
        "bullseye's tomcat9, tomcat9-common, libtomcat9-java and libeclipse-jdt-core-java packages,\n"
        "because Apache's download site cannot be reached from CI.\n"
    )


def build_tomcat_archive(out_dir: Path, cache_dir: Path) -> Path:
    archive = out_dir / f"apache-tomcat-{STANDIN_TOMCAT_VERSION}.tar.gz"
    with tempfile.TemporaryDirectory() as scratch:
        debian_root = Path(scratch) / "debian"
        for package in PINNED_DEBS:
            _extract_deb(fetch_deb(package, cache_dir), debian_root)
        tree = Path(scratch) / "tree"
        _assemble_tomcat_tree(debian_root, tree)
        _write_reproducible_tar_gz(tree, f"apache-tomcat-{STANDIN_TOMCAT_VERSION}", archive)
    return archive


def _write_reproducible_zip(destination: Path, entries: dict[str, str]) -> None:
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name])


def build_standin_war(destination: Path, version: str = STANDIN_XNAT_VERSION) -> Path:
    web_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="4.0">\n'
        f"  <display-name>{WAR_MARKER}</display-name>\n"
        "  <welcome-file-list><welcome-file>index.html</welcome-file></welcome-file-list>\n"
        "</web-app>\n"
    )
    index = (
        "<!DOCTYPE html>\n<html><head><title>XNAT stand-in</title></head>\n"
        f"<body><p>{WAR_MARKER} {version}</p>"
        "<p>Not XNAT: a test artifact, because XNAT's WAR cannot be downloaded in CI.</p></body></html>\n"
    )
    manifest = (
        f"Manifest-Version: 1.0\nImplementation-Title: xnat-web stand-in\nImplementation-Version: {version}\n"
    )
    _write_reproducible_zip(
        destination, {"META-INF/MANIFEST.MF": manifest, "WEB-INF/web.xml": web_xml, "index.html": index}
    )
    return destination


def build_standin_plugin(destination: Path, name: str, version: str) -> Path:
    manifest = (
        f"Manifest-Version: 1.0\nImplementation-Title: {name} stand-in\nImplementation-Version: {version}\n"
    )
    marker = (
        f"Stand-in for the XNAT plugin {name} {version}; not the real plugin (cannot be downloaded in CI).\n"
    )
    _write_reproducible_zip(destination, {"META-INF/MANIFEST.MF": manifest, "STANDIN.txt": marker})
    return destination


def recipe_key() -> str:
    source = Path(__file__).read_bytes()
    return hashlib.sha256(source + BUILDER_REVISION.encode()).hexdigest()[:16]


def ansible_vars(manifest: dict) -> dict:
    """Role variables that point the host roles at the stand-ins (same path as air-gapped trusts)."""
    war = manifest["war"]
    return {
        "tomcat_version": STANDIN_TOMCAT_VERSION,
        "tomcat_artifacts_dir": manifest["directory"],
        "tomcat_archive_sha512": manifest["tomcat"]["sha512"],
        "xnat_artifacts_dir": manifest["directory"],
        "xnat_war_file": Path(war["path"]).name,
        "xnat_war_sha256": war["sha256"],
        "xnat_plugins": [
            {"file": Path(plugin["path"]).name, "sha256": plugin["sha256"]} for plugin in manifest["plugins"]
        ],
    }


def build_all(out_dir: Path, cache_dir: Path, xnat_version: str = STANDIN_XNAT_VERSION) -> tuple[dict, bool]:
    """Build (or reuse) every stand-in in out_dir. Returns the manifest and whether anything was built."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    key = recipe_key()
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        files = [manifest["tomcat"], manifest["war"], *manifest["plugins"]]
        if (
            manifest.get("key") == key
            and manifest.get("xnat_version") == xnat_version
            and all(
                Path(item["path"]).exists() and file_digest(Path(item["path"]), "sha256") == item["sha256"]
                for item in files
            )
        ):
            return manifest, False
    tomcat = describe(build_tomcat_archive(out_dir, cache_dir))
    war = describe(build_standin_war(out_dir / f"xnat-web-{xnat_version}.war", xnat_version))
    plugins = [
        describe(build_standin_plugin(out_dir / f"{name}-{version}.jar", name, version))
        for name, version in STANDIN_PLUGINS
    ]
    manifest = {
        "key": key,
        "xnat_version": xnat_version,
        "directory": str(out_dir.resolve()),
        "note": "STAND-INS for tests only: not Apache Tomcat, not XNAT, not XNAT plugins.",
        "tomcat": asdict(tomcat),
        "war": asdict(war),
        "plugins": [asdict(plugin) for plugin in plugins],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "standin-vars.json").write_text(json.dumps(ansible_vars(manifest), indent=2) + "\n")
    return manifest, True
