"""Dynamic de-identification checks: measure a DicomEdit script on synthetic PHI, scan files for residual PHI.

``enclave deid scan --script S`` runs the script on synthetic "PHI everywhere" datasets and judges
every Table E.1-1 attribute on the output; ``enclave deid scan PATH...`` reports residual PHI per
attribute, per series and (in JSON) per file, on every core, in DICOM headers, in dcm2niix's outputs (JSON
sidecars and NIfTI header text, ``compliance.deid.nifti``) and in file and folder names
(``compliance.deid.names``); ``enclave deid scan --xnat URL --project P`` scans the files XNAT archived,
DICOM and NIFTI resources, read through REST (``compliance.deid.xnat_source``).
"""
