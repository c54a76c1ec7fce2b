"""xnat-enclave compliance tools: DicomEdit/Annex E audit, residual-PHI scan and access review."""

__version__ = "0.1.0"
