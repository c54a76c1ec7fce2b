"""Bulk import from a PACS into XNAT through DQR: plan from a CSV, run in safe batches, resume, cancel.

``enclave import plan`` validates the CSV (rows refused with their number and reason before anything is
queried), resolves each row through DQR's study query, lists the series to import and the series excluded
and why, and chooses labels (the CSV's, or keyed pseudonyms). ``run``/``resume`` submit the plan through
``/xapi/dqr/import`` a few studies at a time, wait for each to be received, archive what is left in the
prearchive and keep a journal beside the plan so that a crash loses and repeats nothing.
"""
