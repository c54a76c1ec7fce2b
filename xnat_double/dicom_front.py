"""The network side of one DICOM receiver port: a pynetdicom Storage SCP in a process of its own.

XNAT's DICOM SCP (dcm4che, NX …/dcm/scp/DicomSCP.java) accepts associations on threads of the JVM, which run
in parallel with its REST API and its DQR threads. pynetdicom's associations (PDU decoding, presentation
context negotiation with a pattern check of every UID, two polling threads per association) in the double's
own process would share one interpreter lock with the REST server and the DQR C-FIND/C-MOVE threads, so the
double would receive far more slowly than XNAT relative to the rest of its work. The double therefore runs
each listening port's pynetdicom server in a child process (this module) and keeps all that XNAT decides in
its own process (``dicom_receivers``): the child accepts or rejects associations (called AE title, the
receivers' whitelists, XnatApplicationEntity) and hands every C-STORE, as the Part 10 bytes it received, to
the double, whose answer (the C-STORE status) it sends back. Nothing is filed or acknowledged by the child.

The child is started from a fork server that has this module loaded (``multiprocessing`` "forkserver"), so
a listener starts in milliseconds and the child never inherits the double's threads. It stops when the
double says so, and when the double's end of the pipe closes (the double exited, even by kill -9).

Messages on the pipe (tuples; the first item names the kind):
- child → double: ``("ready",)`` or ``("error", text)`` once, after binding the port;
  ``("store", request_id, called_ae, source, part10_bytes)`` per C-STORE;
  ``("refused", calling_ae, address, called_ae, reason)`` per rejected association (the double logs it).
- double → child: ``("status", request_id, status)`` per C-STORE; ``("stop",)``.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import multiprocessing
import signal
import threading
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, build_context, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import AssociationServer

logger = logging.getLogger("xnat_double.dicom_front")

HOST = "127.0.0.1"
MAXIMUM_ASSOCIATIONS = 20
OUT_OF_RESOURCES = 0xA700  # XNAT's answer to a ServerException; here also when the double cannot answer
START_TIMEOUT = 30.0  # seconds for the child to bind its port
ANSWER_TIMEOUT = 600.0  # seconds a C-STORE waits for the double (a long script on a large instance)
STOP_TIMEOUT = 10.0
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    *JPEGTransferSyntaxes,
    *JPEGLSTransferSyntaxes,
    *JPEG2000TransferSyntaxes,
    RLELossless,
]
REJECT_CALLED_AE = 0x07  # called AE title not recognised
REJECT_CALLING_AE = 0x03  # calling AE title not recognised (XnatApplicationEntity)


# --- whitelist -----------------------------------------------------------------------------------------
def _ip_matches(matcher: str, address: str) -> bool | None:
    """Spring's IpAddressMatcher: None when ``matcher`` is not an address/CIDR (IllegalArgumentException)."""
    try:
        network = ipaddress.ip_network(matcher.strip(), strict=False)
    except ValueError:
        return None
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False


def whitelisted(whitelist: Iterable[str], calling_ae: str, address: str) -> bool:
    """XnatApplicationEntity.isWhitelisted: AE@IP/CIDR needs both; IP/CIDR the address; else the AE."""
    for item in (entry.strip() for entry in whitelist if isinstance(entry, str)):
        if not item:
            continue
        parts = item.split("@")
        if len(parts) == 2:
            if calling_ae == parts[0] and _ip_matches(parts[1], address):
                return True
        elif len(parts) == 1:
            matched = _ip_matches(item, address)
            if matched is None and calling_ae == item:
                return True
            if matched:
                return True
    return False


def truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def rejection_reason(receivers: dict[str, dict[str, Any]], called: str, calling: str, address: str) -> int:
    """0 to accept; else the A-ASSOCIATE-RJ reason XNAT gives (DicomSCPManager, XnatApplicationEntity)."""
    receiver = receivers.get(called)
    if receiver is None:
        return REJECT_CALLED_AE
    if truthy(receiver.get("whitelistEnabled")) and not whitelisted(
        receiver.get("whitelist") or [], calling, address
    ):
        return REJECT_CALLING_AE
    return 0


# --- pynetdicom tuning ---------------------------------------------------------------------------------
class _SupportedContexts(list[PresentationContext]):
    """A listener's presentation contexts, shared by its associations instead of deep-copied for each.

    pynetdicom's server deep-copies its contexts for every association it accepts; for a receiver's 171
    contexts of 17 transfer syntaxes that is some 30 ms of CPU holding the GIL (pydicom checks each UID
    against its pattern as it is rebuilt), paid for every C-MOVE a PACS sends here. Negotiation only reads
    the acceptor's contexts and builds new ones for its answer (pynetdicom ``presentation``
    ``negotiate_as_acceptor`` and ``negotiate_unrestricted``, ``acse._negotiate_as_acceptor``), so each
    association gets a list of its own holding the same contexts."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        return list(self)


def without_forced_collections(server: AssociationServer) -> None:
    """Stop pynetdicom's server from running a full ``gc.collect()`` every 60 requests it serves.

    It does so to free dead association threads, which the interpreter's own collector frees as well. A
    full collection walks the whole heap while holding the GIL (py-spy --gil found it holding the GIL 19 %
    of an import benchmark's run when the receivers shared the double's process)."""
    server.service_actions = _no_service_actions  # type: ignore[method-assign]


def _no_service_actions() -> None:
    return None


def receiver_contexts() -> list[PresentationContext]:
    """Verification and every storage SOP class, each with the transfer syntaxes XNAT's SCP accepts."""
    contexts = [build_context(Verification)]
    contexts += [
        build_context(item.abstract_syntax, TRANSFER_SYNTAXES) for item in AllStoragePresentationContexts
    ]
    return contexts


# --- the child process ---------------------------------------------------------------------------------
class _Front:
    """The child's pynetdicom server: rejects what XNAT rejects and relays each C-STORE to the double."""

    def __init__(self, receivers: list[dict[str, Any]], connection: Connection) -> None:
        self.receivers = {str(item.get("aeTitle") or "").strip(): item for item in receivers}
        self.connection = connection
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future[int]] = {}
        self._waiting_lock = threading.Lock()
        self._called: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._closed = False

    def start(self, port: int) -> AssociationServer:
        ae = AE(ae_title=next(iter(self.receivers), "XNAT") or "XNAT")
        ae.require_called_aet = False  # checked per receiver in _requested
        ae.maximum_associations = MAXIMUM_ASSOCIATIONS
        ae.supported_contexts = receiver_contexts()
        handlers = [(evt.EVT_REQUESTED, self._requested), (evt.EVT_C_STORE, self._store)]
        server = ae.start_server((HOST, port), block=False, evt_handlers=handlers)
        server.contexts = _SupportedContexts(server.contexts)
        without_forced_collections(server)
        return server

    def _send(self, message: tuple[Any, ...]) -> bool:
        try:
            with self._send_lock:
                self.connection.send(message)
        except (OSError, ValueError):
            return False
        return True

    def _requested(self, event: evt.Event) -> None:
        association = event.assoc
        request = association.requestor.primitive
        called = str(request.called_ae_title or "").strip()
        calling = str(request.calling_ae_title or "").strip()
        address = str(association.requestor.address)
        reason = rejection_reason(self.receivers, called, calling, address)
        if reason:
            self._send(("refused", calling, address, called, reason))
            association.acse.send_reject(0x01, 0x01, reason)
            evt.trigger(association, evt.EVT_REJECTED, {})
            association.kill()
            return
        self._called[association] = called

    def _store(self, event: evt.Event) -> int:
        called = self._called.get(event.assoc)
        if called is None:
            return OUT_OF_RESOURCES
        requestor = event.assoc.requestor
        source = f"{requestor.ae_title}@{requestor.address}:{requestor.port}"
        request_id, answer = next(self._ids), Future[int]()
        with self._waiting_lock:
            if self._closed:
                return OUT_OF_RESOURCES
            self._waiting[request_id] = answer
        try:
            if not self._send(("store", request_id, called, source, event.encoded_dataset())):
                return OUT_OF_RESOURCES
            return answer.result(ANSWER_TIMEOUT)
        except TimeoutError:
            return OUT_OF_RESOURCES
        finally:
            with self._waiting_lock:
                self._waiting.pop(request_id, None)

    def relay_answers(self) -> None:
        """Hand the double's answers to the C-STOREs waiting for them, until it says stop or goes away."""
        try:
            while True:
                message = self.connection.recv()
                if message[0] == "stop":
                    break
                if message[0] == "status":
                    self._answer(int(message[1]), int(message[2]))
        except (EOFError, OSError):
            pass
        finally:
            with self._waiting_lock:
                self._closed = True
                waiting = list(self._waiting.values())
            for answer in waiting:  # never let a lost answer look like success
                if not answer.done():
                    answer.set_result(OUT_OF_RESOURCES)

    def _answer(self, request_id: int, status: int) -> None:
        with self._waiting_lock:
            answer = self._waiting.get(request_id)
        if answer is not None and not answer.done():
            answer.set_result(status)


def serve(port: int, receivers: list[dict[str, Any]], connection: Connection, log_level: int) -> None:
    """The child process: listen on 127.0.0.1:``port`` for ``receivers`` until stopped or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the double, and the double stops this
    logging.getLogger("pynetdicom").setLevel(log_level)
    front = _Front(receivers, connection)
    try:
        server = front.start(port)
    except OSError as error:
        connection.send(("error", str(error)))
        return
    connection.send(("ready",))
    try:
        front.relay_answers()
    finally:
        for association in list(server.active_associations):
            association.abort()
        server.shutdown()


# --- the double's handle on a child --------------------------------------------------------------------
def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class FrontProcess:
    """The double's end: starts the child for a port, reads its messages and answers its C-STOREs."""

    def __init__(self, port: int, receivers: list[dict[str, Any]]) -> None:
        self.port = port
        context = _context()
        self._connection, child_end = context.Pipe()
        level = logging.getLogger("pynetdicom").getEffectiveLevel()
        self._process = context.Process(
            target=serve, args=(port, receivers, child_end, level), name=f"dicom-front-{port}", daemon=True
        )
        self._process.start()
        child_end.close()
        self._send_lock = threading.Lock()
        first = self._first_message()
        if first[0] != "ready":
            self._process.join(STOP_TIMEOUT)
            self._connection.close()
            raise OSError(first[1] if len(first) > 1 else f"the receiver on {HOST}:{port} did not start")

    def _first_message(self) -> tuple[Any, ...]:
        if not self._connection.poll(START_TIMEOUT):
            self._process.kill()
            return ("error", f"the receiver on {HOST}:{self.port} did not start within {START_TIMEOUT:.0f} s")
        try:
            return tuple(self._connection.recv())
        except (EOFError, OSError):
            return ("error", f"the receiver process for {HOST}:{self.port} exited while starting")

    def messages(self) -> Iterator[tuple[Any, ...]]:
        """The child's messages until it stops or its pipe breaks."""
        while True:
            try:
                yield tuple(self._connection.recv())
            except (EOFError, OSError):
                return

    def answer(self, request_id: int, status: int) -> None:
        try:
            with self._send_lock:
                self._connection.send(("status", request_id, status))
        except (OSError, ValueError):
            pass  # the child has gone; its C-STORE has already been answered OUT_OF_RESOURCES

    def stop(self) -> None:
        """Abort the child's associations, close its port and wait for it to exit."""
        try:
            with self._send_lock:
                self._connection.send(("stop",))
        except (OSError, ValueError):
            pass
        self._process.join(STOP_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_TIMEOUT)
        self._connection.close()
