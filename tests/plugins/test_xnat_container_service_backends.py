"""xnat_container_service: the docker, swarm and kubernetes compute backends (issue 13 item 1).

Only the Docker backend runs on this machine; Swarm and Kubernetes settings are checked against the
container service's source (CS 3.7.3 model/server/docker/Backend.java, DockerServerBase.java validate())
as the double reproduces it.
"""

from __future__ import annotations

import pytest
import requests


def server_task(**server):
    return {"name": "server", "xnat_enclave.xnat.xnat_container_service": {"docker_server": server}}


def test_uppercase_backend_is_sent_lowercase_and_a_second_run_changes_nothing(initialised, run_tasks):
    first = run_tasks([server_task(host="tcp://docker.internal:2375", backend="DOCKER")]).result()
    assert first["changed"] is True, first
    assert initialised.state.docker_server["backend"] == "docker"
    initialised.clear_requests()
    again = run_tasks([server_task(host="tcp://docker.internal:2375", backend="DOCKER")]).result()
    assert again["changed"] is False, again
    assert initialised.writes() == []


def test_kubernetes_backend_with_a_combined_pvc_converges(initialised, run_tasks):
    flip = {  # FLIP's tested backend JSON (deploy/providers/kubernetes)
        "backend": "kubernetes",
        "combined-pvc-name": "flip-trust-xnat-web",
        "combined-path-translation": "/data/xnat/",
        "pull-images-on-xnat-init": True,
        "auto-cleanup": True,
    }
    assert run_tasks([server_task(**flip)]).result()["changed"] is True
    server = initialised.state.docker_server
    assert (server["backend"], server["swarm-mode"], server["combined-pvc-name"]) == (
        "kubernetes",
        False,
        "flip-trust-xnat-web",
    )
    assert run_tasks([server_task(**flip)]).result()["changed"] is False


def test_swarm_backend_sets_swarm_mode(initialised, run_tasks):
    constraint = {
        "attribute": "node.labels.gpu",
        "comparator": "==",
        "values": ["true"],
        "user-settable": False,
    }
    task = server_task(
        host="tcp://swarm-manager:2376", backend="swarm", **{"swarm-constraints": [constraint]}
    )
    assert run_tasks([task]).result()["changed"] is True
    assert initialised.state.docker_server["swarm-mode"] is True


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ({"backend": "podman"}, "backend 'podman' is not one of docker, swarm, kubernetes"),
        ({"backend": "kubernetes", "combined-pvc-name": "a", "archive-pvc-name": "b"}, "combined-pvc-name"),
        (
            {"backend": "kubernetes", "combined-path-translation": "/a", "build-path-translation": "/b"},
            "combined-path-translation cannot be set with build-path-translation",
        ),
        ({"backend": "kubernetes", "container-user": "tomcat"}, "container-user must be an integer"),
        ({"backend": "kubernetes", "gpu-vendor": "intel"}, "gpu-vendor must be nvidia or amd"),
        ({"backend": "swarm", "host": " "}, "host cannot be empty for the swarm backend"),
        (
            {"backend": "swarm", "swarm-constraints": [{"attribute": "x", "values": []}]},
            "values cannot be empty",
        ),
    ],
)
def test_invalid_backend_settings_fail_before_any_request(initialised, run_tasks, server, problem):
    result = run_tasks([server_task(**server)]).result()
    assert result["failed"] is True
    assert problem in result["msg"], result["msg"]
    assert initialised.requests() == []


def test_the_double_refuses_what_the_container_service_refuses(initialised):
    def post(body):
        return requests.post(
            f"{initialised.url}/xapi/docker/server", json=body, auth=("admin", "admin"), timeout=10
        )

    assert post({"host": "unix:///var/run/docker.sock", "backend": "DOCKER"}).status_code == 400
    refused = post({"backend": "kubernetes", "combined-pvc-name": "a", "build-pvc-name": "b"})
    assert refused.status_code == 400 and "PVC with separate and combined locations" in refused.text
    assert post({"backend": "docker", "host": ""}).text.endswith(
        "Host cannot be empty for docker server setting"
    )
    assert post({"backend": "kubernetes", "host": ""}).status_code == 201  # no host needed on Kubernetes
