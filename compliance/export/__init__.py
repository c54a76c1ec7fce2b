"""``enclave export``: send a project's sessions to a DICOM node (a PACS entry in XNAT) through DQR export,
then confirm at the node by C-FIND that every instance arrived (AI evaluation).

``cli`` is the command; ``runner.ExportRun`` does the work; ``destination`` asks the node by C-FIND.
"""
