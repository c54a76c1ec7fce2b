"""The receiver's network side in its own process (xnat_double.dicom_front), driven without a double.

The double's decisions on what it receives are tested in test_dicom_receivers; here: the child hands every
C-STORE to its parent and answers with the parent's status, never answers success on its own, rejects what
XNAT rejects, and goes away with its parent. Ports are picked free at runtime; only 127.0.0.1 is used.
"""

from __future__ import annotations

import io
import socket
import threading
import time

import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE

from tests.xnat_double.test_dicom_receivers import echo, free_port, send, study
from xnat_double import dicom_front

OUT_OF_RESOURCES = dicom_front.OUT_OF_RESOURCES


@pytest.fixture
def port():
    return free_port()


def front_for(port: int, **fields) -> dicom_front.FrontProcess:
    return dicom_front.FrontProcess(port, [{"aeTitle": "XNAT", "port": port, **fields}])


def answer_every_store(front: dicom_front.FrontProcess, status: int, received: list) -> threading.Thread:
    """The parent's side: record each relayed C-STORE and answer it with ``status``."""

    def relay() -> None:
        for message in front.messages():
            received.append(message)
            if message[0] == "store":
                front.answer(message[1], status)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    return thread


def nothing_listens_on(port: int) -> bool:
    """True when the port can be listened on again (the closed associations' TIME_WAIT aside)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def store_statuses(port: int, datasets: list) -> list[int | None]:
    """C-STORE each dataset in one association: the status of each, None where none came back."""
    ae = AE(ae_title="PACS")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate("127.0.0.1", port, ae_title="XNAT")
    assert association.is_established
    statuses = [getattr(association.send_c_store(ds), "Status", None) for ds in datasets]
    if association.is_established:
        association.release()
    return statuses


def test_each_c_store_reaches_the_parent_as_part10_bytes_and_gets_the_parents_status(port):
    front = front_for(port)
    received: list = []
    relay = answer_every_store(front, 0xB000, received)
    try:
        instances = study(2)
        sent = send(port, instances, calling="PACS")
    finally:
        front.stop()
        relay.join(10)
    assert sent.statuses == [0xB000, 0xB000]
    stores = [message for message in received if message[0] == "store"]
    assert [message[2] for message in stores] == ["XNAT", "XNAT"]
    assert all(message[3].startswith("PACS@127.0.0.1:") for message in stores)
    decoded = [pydicom.dcmread(io.BytesIO(message[4])) for message in stores]
    assert [ds.SOPInstanceUID for ds in decoded] == [ds.SOPInstanceUID for ds in instances]
    assert decoded[0].PatientName == instances[0].PatientName
    assert decoded[0].file_meta.MediaStorageSOPInstanceUID == instances[0].SOPInstanceUID


def test_a_c_store_the_parent_never_answers_is_refused_when_the_parent_stops(port):
    front = front_for(port)
    relayed = threading.Event()

    def relay_without_answering() -> None:
        for message in front.messages():
            if message[0] == "store":
                relayed.set()

    threading.Thread(target=relay_without_answering, daemon=True).start()
    outcome: list = []
    sender = threading.Thread(target=lambda: outcome.append(store_statuses(port, study(1))), daemon=True)
    sender.start()
    assert relayed.wait(10)
    front.stop()
    sender.join(10)
    # Either the refusal got out before the association was aborted, or no status did: never success.
    assert outcome
    assert outcome[0] in ([OUT_OF_RESOURCES], [None])


def test_an_unknown_called_ae_and_a_calling_ae_off_the_whitelist_are_rejected_and_reported(port):
    front = front_for(port, whitelistEnabled=True, whitelist=["PACS"])
    received: list = []
    relay = answer_every_store(front, 0x0000, received)
    try:
        unknown = send(port, study(1), called="NOTXNAT")
        stranger = send(port, study(1), calling="STRANGER")
        listed = send(port, study(1), calling="PACS")
    finally:
        front.stop()
        relay.join(10)
    assert (unknown.rejected, unknown.reason) == (True, 0x07)
    assert (stranger.rejected, stranger.reason) == (True, 0x03)
    assert listed.statuses == [0x0000]
    refused = [message[1:] for message in received if message[0] == "refused"]
    assert [(item[0], item[2], item[3]) for item in refused] == [
        ("PACS", "NOTXNAT", 0x07),
        ("STRANGER", "XNAT", 0x03),
    ]
    assert [message[0] for message in received].count("store") == 1


def test_the_child_exits_and_frees_its_port_when_the_parents_end_closes(port):
    front = front_for(port)
    assert echo(port)
    front._connection.close()  # what a parent killed with -9 leaves: the pipe's other end closes
    deadline = time.monotonic() + 10
    while front._process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not front._process.is_alive()
    assert nothing_listens_on(port)
    assert not echo(port)


def test_a_port_that_cannot_be_bound_raises_oserror_naming_it(port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(OSError, match="Address already in use"):
            front_for(port)
