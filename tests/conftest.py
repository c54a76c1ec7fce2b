"""Shared pytest fixtures.

``xnat_double``: the XNAT REST double on 127.0.0.1 (free port) in a background thread, one per test
session, reset to a fresh XNAT (admin/admin, enabled guest, site not initialised, empty request log)
before each test. The yielded object has ``.url``, ``.requests()``, ``.writes()``, ``.clear_requests()``,
``.seed(dict)``, ``.reset()`` and ``.state``.

``node``: the AI-evaluation node, a pynetdicom Storage + Find SCP (``xnat_double.dicom_node``, AE AIEVAL)
on 127.0.0.1, port in 22000-22999, one per test module, emptied before each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xnat_double import DoubleServer
from xnat_double.dicom_node import DicomNode, pick_port


@pytest.fixture(scope="session")
def _xnat_double_server() -> Iterator[DoubleServer]:
    server = DoubleServer("127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture
def xnat_double(_xnat_double_server: DoubleServer) -> DoubleServer:
    _xnat_double_server.reset()
    return _xnat_double_server


@pytest.fixture(scope="module")
def _node() -> Iterator[DicomNode]:
    with DicomNode("AIEVAL", pick_port()) as started:
        yield started


@pytest.fixture
def node(_node: DicomNode) -> DicomNode:
    _node.clear()
    return _node
