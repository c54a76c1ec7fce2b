"""Burnt-in text in DICOM pixel data: detect it, clean it, and verify by OCR that it is gone.

* ``compliance.pixels.detect.detect_burnt_in(dataset, ...) -> list[Finding]`` — the detectors
  (Burned In Annotation, SOP classes and series known to carry text, pydicom deid's filter recipes,
  tesseract OCR on sampled, downscaled frames with header-identifier matching, redacted);
* ``compliance.pixels.clean`` — ``enclave anon clean-pixels``: deid's cleaner plus the OCR boxes,
  verification by OCR, new SOP Instance UIDs, Burned In Annotation NO only once verified;
* ``compliance.pixels.ocr`` — Debian's tesseract as a subprocess with a timeout;
* ``compliance.pixels.recipes`` — deid recipes and the known carriers of burnt-in text;
* ``compliance.pixels.identifiers`` — the header's identifiers and OCR-tolerant matching;
* ``compliance.pixels.gate`` — the release gate: which scans of a session may leave XNAT when the
  project's keywords mark it as requiring pixel cleaning (only through ``DICOM_CLEANED``) or defacing.
"""
