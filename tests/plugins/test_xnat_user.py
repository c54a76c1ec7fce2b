"""xnat_user against the XNAT double."""

from __future__ import annotations

SERVICE = {
    "username": "svc_config",
    "password": "Svc-Secret-77",
    "first_name": "Config",
    "last_name": "Service",
    "email": "svc@trust-a.nhs.uk",
    "roles": ["Administrator", "Dqr"],
    "groups": ["ALL_DATA_ADMIN"],
}


def user_task(users, **args):
    return {"name": "users", "xnat_enclave.xnat.xnat_user": {"users": users, **args}}


def test_create_then_no_op_then_update(initialised, run_tasks):
    run = run_tasks([user_task([SERVICE, {"username": "guest", "enabled": False}])], diff=True)
    result = run.result()
    assert result["changed"] is True, result
    created = {u["username"]: u for u in result["users"]}
    assert created["svc_config"]["created"] is True
    assert created["guest"]["updated"] == ["enabled"]
    user = initialised.state.users["svc_config"]
    assert user.password == "Svc-Secret-77"
    assert user.roles == {"Administrator", "Dqr"}
    assert "ALL_DATA_ADMIN" in user.groups
    assert initialised.state.users["guest"].enabled is False
    assert "Svc-Secret-77" not in run.stdout + run.stderr

    initialised.clear_requests()
    again = run_tasks([user_task([SERVICE, {"username": "guest", "enabled": False}])]).result()
    assert again["changed"] is False
    assert initialised.writes() == []

    changed = dict(SERVICE, roles=["Administrator"], email="new@trust-a.nhs.uk")
    update = run_tasks([user_task([changed])], diff=True).result()
    assert update["users"][0]["roles_removed"] == ["Dqr"]
    assert update["users"][0]["updated"] == ["email"]
    assert update["diff"]["before"]["svc_config"]["email"] == "svc@trust-a.nhs.uk"
    assert update["diff"]["after"]["svc_config"]["roles"] == ["Administrator"]
    assert "password" not in update["diff"]["after"]["svc_config"]
    assert initialised.state.users["svc_config"].roles == {"Administrator"}


def test_password_only_on_create_unless_always(initialised, run_tasks):
    initialised.seed(
        {
            "users": [
                {
                    "username": "alice",
                    "password": "old-pw",
                    "email": "a@x.nhs.uk",
                    "firstName": "A",
                    "lastName": "L",
                }
            ]
        }
    )
    same = run_tasks([user_task([{"username": "alice", "password": "new-pw"}])]).result()
    assert same["changed"] is False
    assert initialised.state.users["alice"].password == "old-pw"
    always = run_tasks([user_task([{"username": "alice", "password": "new-pw"}], update_password="always")])
    assert always.result()["changed"] is True
    assert initialised.state.users["alice"].password == "new-pw"
    absent = run_tasks([user_task([{"username": "alice", "state": "absent"}])]).result()
    assert absent["users"][0]["updated"] == ["enabled"], "XNAT cannot delete accounts: absent disables"
    assert initialised.state.users["alice"].enabled is False


def test_check_mode_sends_no_write(initialised, run_tasks):
    result = run_tasks([user_task([SERVICE])], check=True).result()
    assert result["changed"] is True
    assert initialised.writes() == []
    assert "svc_config" not in initialised.state.users


def test_create_without_password_fails_clearly(initialised, run_tasks):
    result = run_tasks([user_task([{"username": "bob", "email": "b@x.nhs.uk"}])]).result()
    assert result["failed"] is True
    assert "bob" in result["msg"] and "password" in result["msg"]
    assert initialised.writes() == []
