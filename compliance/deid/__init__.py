"""Dynamic de-identification checks: measure a DicomEdit script on synthetic PHI, scan files for residual PHI.

``enclave deid scan --script S`` runs the script on synthetic "PHI everywhere" datasets and judges
every Table E.1-1 attribute on the output; ``enclave deid scan PATH...`` reports residual PHI per
attribute, per series and (in JSON) per file, on every core; ``enclave deid scan --xnat URL --project P``
scans the files XNAT archived, read through REST (``compliance.deid.xnat_source``).
"""
