"""``POST /v1/previews`` on the embedded default: real stills from the session's render
server, served through signed links, cached, limited per account."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from core.settings import LimitSettings
from tests.fixtures.api import LiveServer, make_api_settings
from tests.fixtures.pipeline import TINY


@pytest.fixture
def preview_server(db, tmp_path, database_url, api_port, render_server_dir):
    settings = make_api_settings(
        tmp_path, database_url, api_port, render_server_dir=render_server_dir,
        limits=LimitSettings(previews_per_minute=4),
    )
    server = LiveServer(settings).start()
    yield server
    server.stop()


async def _jpeg(url: str) -> Image.Image:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as c:
        response = await c.get(url)  # no API key: the link is signed
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == "JPEG"
    return image


async def test_a_preview_is_a_jpeg_at_the_settings_size_and_a_draft_is_half(
    preview_server, api_caller
):
    caller = await api_caller()
    async with httpx.AsyncClient(base_url=preview_server.url, timeout=60, trust_env=False) as c:
        full = await c.post("/v1/previews", headers=caller.headers,
                            json={"project_id": caller.project_id, "settings": TINY})
        assert full.status_code == 200, full.text
        body = full.json()
        assert (body["width"], body["height"]) == (320, 180)
        assert (await _jpeg(body["url"])).size == (320, 180)
        draft = await c.post("/v1/previews", headers=caller.headers, json={
            "project_id": caller.project_id, "settings": {**TINY, "draft": True}, "at": 0.5})
        assert draft.status_code == 200, draft.text
        assert (draft.json()["width"], draft.json()["height"]) == (160, 90)
        assert (await _jpeg(draft.json()["url"])).size == (160, 90)


async def test_the_same_inputs_are_served_from_the_cache_without_a_second_render(
    preview_server, api_caller
):
    caller = await api_caller()
    request = {"project_id": caller.project_id, "settings": {**TINY, "effects": ["glow"]},
               "at": 0.2}
    async with httpx.AsyncClient(base_url=preview_server.url, timeout=60, trust_env=False) as c:
        first = (await c.post("/v1/previews", headers=caller.headers, json=request)).json()
        # replace the stored still: a second render would overwrite this marker
        key = first["url"].split("/media/", 1)[1].split("?", 1)[0]
        path = preview_server.app.state.rt.storage.local_path(key=key)
        marker = io.BytesIO()
        Image.new("RGB", (320, 180), (255, 0, 0)).save(marker, "JPEG")
        path.write_bytes(marker.getvalue())
        # quality and format do not change a frame: the same still
        second = await c.post("/v1/previews", headers=caller.headers,
                              json={**request, "settings": {**request["settings"],
                                                            "quality": "high"}})
        assert second.status_code == 200
        async with httpx.AsyncClient(timeout=30, trust_env=False) as raw:
            assert (await raw.get(second.json()["url"])).content == marker.getvalue()
        # another frame is another still
        other = await c.post("/v1/previews", headers=caller.headers, json={**request, "at": 0.8})
        async with httpx.AsyncClient(timeout=30, trust_env=False) as raw:
            assert (await raw.get(other.json()["url"])).content != marker.getvalue()


async def test_errors_401_404_422_and_429_past_the_limit(preview_server, api_caller):
    caller = await api_caller(name="a")
    stranger = await api_caller(name="b")
    ok = {"project_id": caller.project_id, "settings": TINY}
    async with httpx.AsyncClient(base_url=preview_server.url, timeout=60, trust_env=False) as c:
        assert (await c.post("/v1/previews", json=ok)).status_code == 401
        theirs = await c.post("/v1/previews", headers=stranger.headers, json=ok)
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "not_found"
        unknown = await c.post("/v1/previews", headers=caller.headers,
                               json={**ok, "project_id": "prj_nope"})
        assert unknown.status_code == 404
        odd = await c.post("/v1/previews", headers=caller.headers,
                           json={**ok, "settings": {**TINY, "resolution": [321, 180]}})
        assert odd.status_code == 422 and odd.json()["error"]["field"] == "settings.resolution"
        late = await c.post("/v1/previews", headers=caller.headers, json={**ok, "at": 1.0})
        assert late.status_code == 422 and late.json()["error"]["field"] == "at"
        codes = [(await c.post("/v1/previews", headers=caller.headers, json=ok)).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 200]
        refused = await c.post("/v1/previews", headers=caller.headers, json=ok)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # another account has its own window
        own = {"project_id": stranger.project_id, "settings": TINY}
        assert (await c.post("/v1/previews", headers=stranger.headers, json=own)).status_code == 200
