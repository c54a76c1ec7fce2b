"""The stand-in artifacts are reproducible and laid out like the real ones (see artifacts.py)."""

import tarfile
import zipfile
from pathlib import Path

from tests.roles.artifacts import (
    STANDIN_TOMCAT_VERSION,
    WAR_MARKER,
    build_all,
    build_standin_plugin,
    build_standin_war,
    file_digest,
)

REPO = Path(__file__).resolve().parents[2]


def test_war_is_reproducible_and_deployable(tmp_path):
    first = build_standin_war(tmp_path / "a.war")
    second = build_standin_war(tmp_path / "b.war")
    assert file_digest(first, "sha256") == file_digest(second, "sha256")
    with zipfile.ZipFile(first) as war:
        assert {"WEB-INF/web.xml", "index.html", "META-INF/MANIFEST.MF"} <= set(war.namelist())
        assert WAR_MARKER in war.read("index.html").decode()


def test_plugin_jars_differ_by_name(tmp_path):
    one = build_standin_plugin(tmp_path / "one.jar", "container-service", "3.8.1-fat")
    two = build_standin_plugin(tmp_path / "two.jar", "dicom-query-retrieve", "3.0.0-xpl")
    assert file_digest(one, "sha256") != file_digest(two, "sha256")
    with zipfile.ZipFile(one) as jar:
        assert "container-service" in jar.read("META-INF/MANIFEST.MF").decode()


def test_tomcat_archive_laid_out_like_apache_and_cached():
    out = REPO / ".cache/artifacts/standin"
    manifest, _ = build_all(out, REPO / ".cache/artifacts")
    again, rebuilt = build_all(out, REPO / ".cache/artifacts")
    assert not rebuilt
    assert again == manifest
    top = f"apache-tomcat-{STANDIN_TOMCAT_VERSION}"
    with tarfile.open(manifest["tomcat"]["path"]) as archive:
        names = set(archive.getnames())
        catalina = archive.getmember(f"{top}/bin/catalina.sh")
    assert catalina.mode & 0o111
    for required in (
        "bin/bootstrap.jar",
        "bin/tomcat-juli.jar",
        "lib/catalina.jar",
        "lib/servlet-api.jar",
        "conf/server.xml",
        "conf/web.xml",
        "STANDIN-README.txt",
    ):
        assert f"{top}/{required}" in names, required
    assert file_digest(Path(manifest["tomcat"]["path"]), "sha512") == manifest["tomcat"]["sha512"]
