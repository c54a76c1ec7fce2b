"""Audit DicomEdit anonymisation scripts against DICOM PS3.15 Annex E (Table E.1-1).

``enclave anon lint SCRIPT`` infers, statement by statement, what a script does to every attribute of
the table and judges it against the Basic Profile plus the declared options.
"""
