"""/v1/projects: list, create, get, patch; other accounts' projects are 404 with nothing
leaked; invalid bodies are 422 naming the field."""

from __future__ import annotations

import pytest

STATE = {"composition": "Visualizer", "props": {"title": "Hello", "palette": ["#000000", "#ffffff"]}}


async def test_create_then_get_list_and_patch_a_project(client, api_caller):
    caller = await api_caller()
    created = await client.post("/v1/projects", headers=caller.headers,
                                json={"name": "Launch teaser", "state": STATE})
    assert created.status_code == 201, created.text
    project = created.json()
    assert created.headers["location"] == f"/v1/projects/{project['id']}"
    assert project["name"] == "Launch teaser"
    assert project["state"]["props"]["title"] == "Hello"
    assert project["state"]["props"]["palette"] == ["#000000", "#ffffff"]

    got = await client.get(f"/v1/projects/{project['id']}", headers=caller.headers)
    assert got.status_code == 200 and got.json() == project

    listed = await client.get("/v1/projects", headers=caller.headers)
    assert listed.status_code == 200
    assert {p["id"] for p in listed.json()} == {project["id"], caller.project_id}
    searched = await client.get("/v1/projects", headers=caller.headers, params={"search": "TEASER"})
    assert [p["id"] for p in searched.json()] == [project["id"]]

    patched = await client.patch(
        f"/v1/projects/{project['id']}", headers=caller.headers,
        json={"state": {"props": {"title": "Bye", "palette": ["#111111", "#222222", "#333333"]}}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["state"]["props"]["title"] == "Bye"
    assert patched.json()["name"] == "Launch teaser"
    renamed = await client.patch(f"/v1/projects/{project['id']}", headers=caller.headers,
                                 json={"name": "Teaser v2"})
    assert renamed.json()["name"] == "Teaser v2"
    assert renamed.json()["state"]["props"]["title"] == "Bye"


async def test_another_accounts_project_is_not_found_and_nothing_leaks(client, api_caller):
    alice = await api_caller(name="alice")
    mallory = await api_caller(name="mallory")
    theirs = await client.get(f"/v1/projects/{alice.project_id}", headers=mallory.headers)
    unknown = await client.get("/v1/projects/prj_00000000000000000000", headers=mallory.headers)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    # The same words as for an id that never existed (only the id differs).
    assert theirs.json()["error"]["message"].replace(alice.project_id, "X") == \
        unknown.json()["error"]["message"].replace("prj_00000000000000000000", "X")
    assert "alice" not in theirs.text

    patch = await client.patch(f"/v1/projects/{alice.project_id}", headers=mallory.headers,
                               json={"name": "pwned"})
    assert patch.status_code == 404
    mine = await client.get(f"/v1/projects/{alice.project_id}", headers=alice.headers)
    assert mine.json()["name"] == "alice project"
    listed = await client.get("/v1/projects", headers=mallory.headers)
    assert [p["id"] for p in listed.json()] == [mallory.project_id]


@pytest.mark.parametrize("bad_id", ["nope", "prj_%00", "a" * 300, "..%2F..%2Fetc"])
async def test_an_id_that_cannot_exist_is_not_found(client, api_caller, bad_id):
    caller = await api_caller()
    response = await client.get(f"/v1/projects/{bad_id}", headers=caller.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"name": "a\u0000b"}, "name"),
        ({"name": "ok", "state": []}, "state"),
        ({"name": "ok", "state": {"composition": "Other"}}, "state.composition"),
        ({"name": "ok", "state": {"props": {"palette": ["#fff"]}}}, "state.props.palette"),
        ({"name": "ok", "state": {"props": {"title": "\u0000"}}}, "state"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
async def test_an_invalid_body_is_422_naming_the_field(client, api_caller, body, field):
    caller = await api_caller()
    response = await client.post("/v1/projects", headers=caller.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert error["message"].startswith(field)
    listed = await client.get("/v1/projects", headers=caller.headers)
    assert len(listed.json()) == 1  # nothing was created


async def test_a_body_that_is_not_json_is_422(client, api_caller):
    caller = await api_caller()
    response = await client.post(
        "/v1/projects", headers={**caller.headers, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


# --- URLs inside a project's state -----------------------------------------------------------


@pytest.fixture
def api_settings(tmp_path, database_url, api_port):
    from tests.fixtures.api import make_api_settings

    # The network policy's default: public addresses only (no loopback allowance).
    return make_api_settings(tmp_path, database_url, api_port,
                             callbacks={"allowed_networks": []})


def _audio(url):
    return {"name": "with sound", "state": {"props": {"audioUrl": url}}}


async def test_an_audio_url_at_a_local_listener_is_422_naming_the_prop(
    client, api_caller, listeners
):
    listener = listeners("127.0.0.1")
    caller = await api_caller()
    url = listener.url("/internal-admin/secret.mp3")
    response = await client.post("/v1/projects", headers=caller.headers, json=_audio(url))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "state.props.audioUrl"
    assert "not allowed" in error["message"]
    patched = await client.patch(f"/v1/projects/{caller.project_id}", headers=caller.headers,
                                 json={"state": _audio(url)["state"]})
    assert patched.status_code == 422
    assert patched.json()["error"]["field"] == "state.props.audioUrl"
    assert listener.hits == []  # nothing was fetched to decide
    listed = await client.get("/v1/projects", headers=caller.headers)
    assert len(listed.json()) == 1
    assert "audioUrl" not in listed.json()[0]["state"]["props"]


@pytest.mark.parametrize("url", [
    "ftp://files.example/a.mp3", "file:///etc/passwd", "javascript:alert(1)",
    "http://user:pass@files.example/a.mp3", "http://[::1]/a.mp3", "http://0.0.0.0/a.mp3",
    "http://[64:ff9b::7f00:1]/a.mp3", "http://[2002:7f00:1::1]/a.mp3",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/a.mp3",
    "http://rebind.example/a.mp3", "http://nowhere.example/a.mp3", 123, ["http://x"],
    "http://" + "a" * 2050 + ".example/",
])
async def test_refused_audio_urls_are_422_naming_the_prop(client, api_caller, fake_dns, url):
    fake_dns.answers = {"rebind.example": ["93.184.216.34", "127.0.0.1"],
                        "files.example": ["93.184.216.34"]}
    caller = await api_caller()
    response = await client.post("/v1/projects", headers=caller.headers, json=_audio(url))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "state.props.audioUrl"


async def test_a_public_audio_url_is_accepted_and_kept_as_given(client, api_caller, fake_dns):
    fake_dns.answers = {"files.example": ["93.184.216.34"]}
    caller = await api_caller()
    url = "https://files.example/songs/a.mp3?v=2"
    response = await client.post("/v1/projects", headers=caller.headers, json=_audio(url))
    assert response.status_code == 201, response.text
    assert response.json()["state"]["props"]["audioUrl"] == url
    cleared = await client.patch(f"/v1/projects/{response.json()['id']}", headers=caller.headers,
                                 json={"state": {"props": {"audioUrl": None}}})
    assert cleared.status_code == 200 and cleared.json()["state"]["props"]["audioUrl"] is None
