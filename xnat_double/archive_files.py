"""Files of archive resources over REST: listings, single downloads, zip downloads and uploads.

Sources (FW = NrgXnat/xnat monorepo, ``…`` = web/src/main/java/org/nrg/xnat):
- ``…/restlet/resources/files/FileList.java``: GET ``…/files`` lists (CatalogUtils.FILE_HEADERS) or, with
  ``?format=zip``, zips every file; no file → 404, or 204 with ``accept-not-found=true``. ``?structure=``
  picks the zip layout: ``default`` = ``{session}/scans/{id}-{type}/resources/{label}/files/{path}``
  (RestFileUtils.buildRelativePath: the path from the session id on, the id replaced by the session's
  archive folder name (its label), the resource id by its label, each scan id by ``{id}-{type}``),
  ``simplified`` = the same without ``/resources``, ``/files`` and the scan types, ``improved`` =
  ``{category}/{id}_{type}/{label}/{path}``, ``legacy`` = the absolute server path. ``?compression=0``
  stores instead of deflating (``identifyCompression``). Content-Disposition names ``{folder}.zip``.
  GET ``…/files/{path}`` returns the file (with ``?format=zip`` inside a one-entry zip).
  PUT/POST ``…/files/{path}`` stores the request body (raw, or the parts of multipart/form-data);
  an empty body is a 400 with XNAT's message; an existing file is kept unless ``overwrite=true`` and the
  answer is 200 ``{"duplicates": [...]}``; ``extract=true`` unpacks a .zip/.tar/.tar.gz/.tgz upload.
  ``format``/``content``/``tags`` set the file's metadata. DELETE ``…/files/{path}`` removes it.
- File URIs follow each resource's base path (``XnatAbstractresource.getBaseURI``, built from the
  ``resource_path`` of ``XNATTemplate.loadCatalogs``):
  ``/data/experiments/{E}/scans/{S}/resources/{id}/files/…``,
  ``/data/experiments/{E}/resources/{id}/files/…``, ``/data/projects/{P}/subjects/{S}/resources/…`` and
  ``/data/projects/{P}/resources/…`` (the subject and project forms are unverified).
"""

from __future__ import annotations

import io
import json
import mimetypes
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from flask import Response, request, send_file

from .archive_model import (
    ArchiveError,
    Experiment,
    ProjectArchive,
    Resource,
    ResourceOwner,
    Scan,
    SiteSettings,
    StoredFile,
    Subject,
    safe_relative_path,
    write_file,
)
from .archive_rows import file_row

NON_WORD = re.compile(r"\W")
UNSAFE_IN_FOLDER = re.compile(r'[\\/:*?"<>|]')
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
EMPTY_BODY = (
    "You tried to {method} to this service, but didn't provide any data (found request entity size of 0). "
    "Please check the format of your service request."
)


@dataclass(frozen=True)
class FileEntry:
    """One file of a listing or zip: where it is and how XNAT names it."""

    owner: ResourceOwner
    resource: Resource
    stored: StoredFile
    uri: str


def resource_base_uri(owner: ResourceOwner, resource: Resource) -> str:
    if isinstance(owner, Scan):
        return f"/data/experiments/{owner.session_id}/scans/{owner.id}/resources/{resource.id}"
    if isinstance(owner, Experiment):
        return f"/data/experiments/{owner.id}/resources/{resource.id}"
    if isinstance(owner, Subject):
        return f"/data/projects/{owner.project}/subjects/{owner.id}/resources/{resource.id}"
    if isinstance(owner, ProjectArchive):
        return f"/data/projects/{owner.project_id}/resources/{resource.id}"
    raise TypeError(f"not a resource owner: {owner!r}")


def file_entries(pairs: list[tuple[ResourceOwner, Resource]]) -> list[FileEntry]:
    entries = []
    for owner, resource in pairs:
        base = resource_base_uri(owner, resource)
        for stored in resource.files.values():
            entries.append(FileEntry(owner, resource, stored, f"{base}/files/{stored.path}"))
    return entries


def listing_rows(entries: list[FileEntry]) -> list[dict[str, str]]:
    return [file_row(entry.resource, entry.stored, entry.uri) for entry in entries]


# --- zip layout -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZipNaming:
    """What RestFileUtils needs: the folder names of the sessions/subject/project of the request, and the
    ``{id}-{type}`` names of its scans."""

    folders: dict[str, str]  # session/subject/project id → folder name (label)
    scan_names: dict[str, str]  # scan id → "{id}-{type}"


def zip_naming(experiments: list[Experiment], subject: Subject | None, project_id: str) -> ZipNaming:
    if experiments:
        folders = {experiment.id: experiment.label for experiment in experiments}
    elif subject is not None:
        folders = {subject.id: subject.label}
    else:
        folders = {project_id: project_id}
    scan_names = {
        scan.id: f"{scan.id}-{NON_WORD.sub('_', scan.type)}"
        for experiment in experiments
        for scan in experiment.scans.values()
        if scan.type
    }
    return ZipNaming(folders, scan_names)


def _relative_from_folder(uri: str, folders: dict[str, str]) -> str:
    """RestFileUtils.getRelativePath: the path from the first folder id on, every id → its folder name."""
    path = uri
    for key in folders:
        index = path.find(f"/{key}/")
        if index >= 0:
            path = path[index + 1 :]
            break
    for key, name in folders.items():
        path = path.replace(key, name)
    return path


def zip_entry_name(entry: FileEntry, structure: str, naming: ZipNaming, disk_path: str) -> str:
    if structure == "legacy":
        return disk_path
    if structure == "improved":
        owner = entry.owner
        if isinstance(owner, Scan):
            folder = f"scans/{owner.id}" + (f"_{UNSAFE_IN_FOLDER.sub('_', owner.type)}" if owner.type else "")
        else:
            folder = "resources"
        return f"{folder}/{entry.resource.label or entry.resource.id}/{entry.stored.path}"
    relative = _relative_from_folder(entry.uri, naming.folders)
    relative = relative.replace(f"/{entry.resource.id}/files/", f"/{entry.resource.label}/files/")
    if structure == "simplified":
        return relative.replace("/resources", "").replace("/files", "")
    for scan_id, name in naming.scan_names.items():
        relative = relative.replace(f"/{scan_id}/", f"/{name}/")
    return relative


class _ZipSink(io.RawIOBase):
    """A non-seekable sink for zipfile (it then writes data descriptors) that hands out what was written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(members: list[tuple[str, str]], compression: int) -> Iterator[bytes]:
    """Yield a zip of (entry name, file on disk) built as it is sent (no temporary file)."""
    sink = _ZipSink()
    method = zipfile.ZIP_STORED if compression == 0 else zipfile.ZIP_DEFLATED
    level = None if method == zipfile.ZIP_STORED else min(max(compression, 1), 9)
    with zipfile.ZipFile(sink, "w", compression=method, compresslevel=level, allowZip64=True) as archive:
        for name, disk_path in members:
            with (
                Path(disk_path).open("rb") as source,
                archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as out,
            ):
                while chunk := source.read(1024 * 1024):
                    out.write(chunk)
                    yield sink.drain()
    yield sink.drain()


def compression_level() -> int:
    raw = request.args.get("compression")
    return int(raw) if raw is not None and raw.strip().isdigit() else 6


def zip_response(members: list[tuple[str, str]], folder: str) -> Response:
    response = Response(stream_zip(members, compression_level()), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
    return response


def not_found_response() -> Response:
    """FileList: no file → 404, or 204 when the client passed ``accept-not-found=true``."""
    if (request.args.get("accept-not-found") or "").lower() == "true":
        return Response(b"", status=204)
    raise ArchiveError(404, "Unable to find file.")


def single_file_response(resource: Resource, stored: StoredFile, folder: str) -> Response:
    disk_path = resource.disk_path(stored)
    if not disk_path.is_file():
        return not_found_response()
    if (request.args.get("format") or "").lower() == "zip" and not stored.name.lower().endswith(".zip"):
        return zip_response([(stored.name, str(disk_path))], folder)
    mimetype = mimetypes.guess_type(stored.name)[0] or "application/octet-stream"
    return send_file(disk_path, mimetype=mimetype, download_name=stored.name, conditional=False)


# --- upload ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    name: str  # target path inside the resource
    stream: BinaryIO


def request_uploads(file_path: str) -> list[Upload]:
    """The files of a PUT/POST: the multipart parts, or the raw body stored at ``file_path``."""
    if request.mimetype == "multipart/form-data":
        uploads = []
        parts = [part for key in request.files for part in request.files.getlist(key)]
        for part in parts:
            if file_path and not file_path.endswith("/") and len(parts) == 1:
                name = file_path
            else:
                name = f"{file_path}{PurePosixPath(part.filename or part.name or 'upload').name}"
            uploads.append(Upload(name, part.stream))
        return uploads
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return []
    if not file_path or file_path.endswith("/"):
        raise ArchiveError(400, "A file upload without multipart/form-data needs the file path in the URL.")
    return [Upload(file_path, request.stream)]


def store_uploads(site: SiteSettings, resource: Resource, uploads: list[Upload]) -> list[str]:
    """Write the uploads (unpacking archives when ``extract=true``); return the paths kept as duplicates."""
    if not uploads:
        raise ArchiveError(400, EMPTY_BODY.format(method=request.method))
    overwrite = (request.args.get("overwrite") or "").lower() == "true"
    extract = (request.args.get("extract") or "").lower() == "true"
    metadata = {
        key: request.args[query]
        for key, query in (("format", "format"), ("content", "content"), ("tags", "tags"))
        if query in request.args and not (key == "format" and request.args[query].lower() in ("json", "html"))
    }
    duplicates: list[str] = []
    for upload in uploads:
        if extract and upload.name.lower().endswith(ARCHIVE_SUFFIXES):
            members = archive_members(upload)
        else:
            members = [(upload.name, upload.stream)]
        for name, stream in members:
            if write_file(site, resource, name, stream, overwrite=overwrite, **metadata) is None:
                duplicates.append(name)
    return duplicates


def archive_members(upload: Upload) -> Iterator[tuple[str, BinaryIO]]:
    """The files of an uploaded archive, placed in the folder of the upload's path; links are refused."""
    folder = str(PurePosixPath(upload.name).parent)
    prefix = "" if folder == "." else f"{folder}/"
    data = io.BytesIO(upload.stream.read())
    if upload.name.lower().endswith(".zip"):
        with zipfile.ZipFile(data) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    name = safe_relative_path(info.filename, f"zip member of {upload.name}")
                    yield prefix + name, io.BytesIO(archive.read(info))
        return
    with tarfile.open(fileobj=data, mode="r:*") as archive:
        for member in archive.getmembers():
            if member.issym() or member.islnk():
                raise ArchiveError(400, f"{upload.name}: link member {member.name!r} refused")
            if member.isfile():
                name = safe_relative_path(member.name, f"tar member of {upload.name}")
                extracted = archive.extractfile(member)
                yield prefix + name, io.BytesIO(extracted.read() if extracted else b"")


def duplicates_response(duplicates: list[str]) -> Response:
    if duplicates:
        # FileList answers 200 with {"duplicates": [...]} as text/html when files were kept.
        return Response(json.dumps({"duplicates": duplicates}), status=200, mimetype="text/html")
    return Response(b"", status=200, mimetype="text/plain")
