"""The data types of the double's archive, read from its own schema (xnat_double/xsd/xnat.xsd).

The XSD is the single source of truth: GET /xapi/schemas/xnat serves it to xnatpy, and this module reads the
type hierarchy (``xs:extension base=``) from it so that ``xsiType=`` filters and "is this an image session"
checks follow the same tree. The modality tables map a DICOM Modality (0008,0060) to the session and scan
types XNAT's DICOM importer creates (XNAT's SOP-class/modality mapping in xnat-web
``org/nrg/dcm/xnat/*SessionBuilder`` and the xsi types of xnat.xsd; the exact choice for rare modalities
is unverified: anything unknown becomes xnat:otherDicomSessionData / xnat:otherDicomScanData).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from xml.etree import ElementTree

XSD_DIRECTORY = "xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"
PREFIX = "xnat:"

EXPERIMENT = "xnat:experimentData"
SUBJECT_ASSESSOR = "xnat:subjectAssessorData"
IMAGE_SESSION = "xnat:imageSessionData"
IMAGE_SCAN = "xnat:imageScanData"
RESOURCE_CATALOG = "xnat:resourceCatalog"
SUBJECT = "xnat:subjectData"
PROJECT = "xnat:projectData"

SESSION_TYPE_BY_MODALITY = {
    "MR": "xnat:mrSessionData",
    "CT": "xnat:ctSessionData",
    "PT": "xnat:petSessionData",
    "DX": "xnat:dxSessionData",
    "CR": "xnat:crSessionData",
    "US": "xnat:usSessionData",
    "MG": "xnat:mgSessionData",
    "NM": "xnat:nmSessionData",
    "XA": "xnat:xaSessionData",
    "SR": "xnat:srSessionData",
}
SCAN_TYPE_BY_MODALITY = {
    "MR": "xnat:mrScanData",
    "CT": "xnat:ctScanData",
    "PT": "xnat:petScanData",
    "DX": "xnat:dxScanData",
    "CR": "xnat:crScanData",
    "US": "xnat:usScanData",
    "MG": "xnat:mgScanData",
    "NM": "xnat:nmScanData",
    "XA": "xnat:xaScanData",
    "SR": "xnat:srScanData",
    "OT": "xnat:scScanData",
    "SC": "xnat:scScanData",
}
# A secondary capture is an SC scan whatever its modality says (a CT dose screen: an SC scan of a CT
# session). xnat-rest-tests TestDicomModalityAssignment testModalityExtractionSecondaryCapture: modality CT
# with SOP class Secondary Capture Image Storage -> xnat:scScanData in an xnat:ctSessionData.
SECONDARY_CAPTURE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
OTHER_SESSION_TYPE = "xnat:otherDicomSessionData"
OTHER_SCAN_TYPE = "xnat:otherDicomScanData"
# Series that never decide the session type of a study (a CT study with a dose SR is a CT session).
SECONDARY_MODALITIES = frozenset({"SR", "OT", "SC", "PR", "KO", "DOC", "REG", "SEG"})


def schema_names() -> list[str]:
    """The schemas GET /xapi/schemas lists (FW SchemaApi: folder/name with a repeated name collapsed)."""
    folder = resources.files(__package__).joinpath(XSD_DIRECTORY)
    return sorted(
        entry.name.removesuffix(".xsd") for entry in folder.iterdir() if entry.name.endswith(".xsd")
    )


def schema_text(name: str) -> str | None:
    """The XSD document called ``name`` (without .xsd), or None when the double has no such schema."""
    if name not in schema_names():
        return None
    return resources.files(__package__).joinpath(XSD_DIRECTORY, f"{name}.xsd").read_text(encoding="utf-8")


@cache
def base_types() -> dict[str, str | None]:
    """Every complex type of the double's XSD and the type it extends (None for roots)."""
    root = ElementTree.fromstring(schema_text("xnat") or "")
    bases: dict[str, str | None] = {}
    for complex_type in root.findall(f"{XS}complexType"):
        extension = complex_type.find(f"{XS}complexContent/{XS}extension")
        bases[PREFIX + complex_type.get("name", "")] = None if extension is None else extension.get("base")
    return bases


def is_known_type(xsi_type: str) -> bool:
    return xsi_type in base_types()


def is_instance_of(xsi_type: str, ancestor: str) -> bool:
    """True when ``xsi_type`` is ``ancestor`` or extends it (directly or not)."""
    bases = base_types()
    current: str | None = xsi_type
    while current is not None:
        if current == ancestor:
            return True
        current = bases.get(current)
    return False


def concrete_subtypes(ancestor: str) -> list[str]:
    """The types in the schema that extend ``ancestor`` (or are it) and are extended by no other type."""
    bases = base_types()
    extended = {base for base in bases.values() if base}
    return sorted(name for name in bases if name not in extended and is_instance_of(name, ancestor))


def session_type_for(modalities: list[str]) -> str:
    """The session xsi type for a study with these series modalities (first primary modality wins)."""
    primary = [modality for modality in modalities if modality not in SECONDARY_MODALITIES]
    for modality in primary or modalities:
        if modality in SESSION_TYPE_BY_MODALITY:
            return SESSION_TYPE_BY_MODALITY[modality]
    return OTHER_SESSION_TYPE


def scan_type_for(modality: str, sop_class_uid: str = "") -> str:
    if sop_class_uid in SECONDARY_CAPTURE_SOP_CLASSES:
        return SCAN_TYPE_BY_MODALITY["SC"]
    return SCAN_TYPE_BY_MODALITY.get(modality.upper(), OTHER_SCAN_TYPE)


@cache
def document_elements() -> dict[str, str]:
    """xsi type → the name of its top-level document element (``xs:element name="CTSession"``)."""
    root = ElementTree.fromstring(schema_text("xnat") or "")
    return {element.get("type", ""): element.get("name", "") for element in root.findall(f"{XS}element")}
