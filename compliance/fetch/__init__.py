"""``enclave fetch``: download a session's NIfTI or DICOM by accession number, verified, for AI development.

``client.get_by_accession_number`` is the Python form (FLIP's flip-utils shape); ``cli`` the command.
"""

from compliance.fetch.client import FetchClient, get_by_accession_number
from compliance.fetch.errors import FetchError

__all__ = ["FetchClient", "FetchError", "get_by_accession_number"]
