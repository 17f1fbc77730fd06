"""Project URLs at render start: renderbot fetches them itself (through the pinned
transport, within size and type limits) into storage and hands the renderer its own
link; a URL that cannot be fetched fails the job with one line that names the prop, not
the address, and refunds it. The end-to-end test renders for real and checks the sound."""

from __future__ import annotations

import io
import json
import math
import subprocess
import wave
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from core import assets, network, projects
from core.backends.base import RenderError, RenderRequest
from core.errors import InvalidInput
from core.render.local_server import find_ffprobe
from core.render_settings import RenderSettings
from core.runtime import Runtime
from tests.fixtures.api import make_api_settings
from tests.fixtures.pipeline import REMOTION_DIR, TINY, wait_for

WAV = {"Content-Type": "audio/wav"}


def tone(seconds: float = 1.5, rate: int = 22050) -> bytes:
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        v = (0.5 + 0.5 * math.sin(2 * math.pi * 2 * t)) * math.sin(2 * math.pi * 220 * t)
        frames += int(v * 20000).to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def _request(url: str) -> RenderRequest:
    settings = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1.0,
                              quality="low", effects=())
    return RenderRequest(
        job_id="job_assets1", attempt=1, composition="Visualizer",
        input_props={"title": "x", "audioUrl": url, "width": 320}, settings=settings,
        output_key="acct/renders/job_assets1.mp4",
    )


@pytest.fixture
def rt(settings):
    allowed = settings.model_copy(update={"network": settings.network.model_copy(
        update={"allowed_networks": ["127.0.0.2/32"], "asset_max_bytes": 200_000})})
    return Runtime(allowed)


async def test_a_project_url_is_fetched_once_into_storage_and_replaced_by_our_link(
    rt, listeners, fake_dns
):
    source = listeners("127.0.0.2")
    source.routes["/a.wav"] = (200, WAV, tone())
    fake_dns.answers = {"cdn.example": ["127.0.0.2"]}
    url = f"http://cdn.example:{source.port}/a.wav?token=abc"
    request = await assets.localise(rt, _request(url))
    assert [(h.method, h.path) for h in source.hits] == [("GET", "/a.wav?token=abc")]
    assert source.hits[0].headers["user-agent"] == assets.USER_AGENT
    link = request.input_props["audioUrl"]
    assert link.startswith(rt.settings.public_base_url + "/media/acct/renders/job_assets1-assets/")
    assert "cdn.example" not in link
    stored = rt.storage.local_path(key="acct/renders/job_assets1-assets/audioUrl.wav")
    assert stored.read_bytes() == tone()
    assert request.input_props["title"] == "x" and request.input_props["width"] == 320


async def test_with_s3_storage_the_renderer_gets_a_presigned_link_to_our_copy(
    settings, moto_s3, s3_bucket, listeners, fake_dns
):
    # What a Lambda function (or a local renderer with S3/R2 storage) is handed.
    rt = Runtime(settings.model_copy(update={
        "storage_url": f"s3://{s3_bucket}", "s3_endpoint_url": moto_s3.endpoint_url,
        "s3_region": moto_s3.region, "s3_access_key_id": moto_s3.access_key_id,
        "s3_secret_access_key": SecretStr(moto_s3.secret_access_key),
        "network": settings.network.model_copy(update={"allowed_networks": ["127.0.0.2/32"]}),
    }))
    source = listeners("127.0.0.2")
    source.routes["/a.mp3"] = (200, {"Content-Type": "audio/mpeg"}, b"ID3-not-really-mp3")
    fake_dns.answers = {"cdn.example": ["127.0.0.2"]}
    request = await assets.localise(rt, _request(f"http://cdn.example:{source.port}/a.mp3"))
    link = request.input_props["audioUrl"]
    assert link.startswith(moto_s3.endpoint_url) and "X-Amz-Signature=" in link
    assert "X-Amz-Expires=21600" in link  # network.asset_link_seconds
    async with httpx.AsyncClient(trust_env=False) as http:  # no credentials needed
        got = await http.get(link)
    assert got.status_code == 200 and got.content == b"ID3-not-really-mp3"
    assert got.headers["content-type"] == "audio/mpeg"
    assert len(source.hits) == 1


async def test_without_url_props_the_request_is_unchanged(rt):
    request = _request("")
    assert await assets.localise(rt, request) is request


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ((404, {}, b""), "it answered HTTP 404"),
        ((200, {"Content-Type": "text/html"}, b"<html>"), "not a supported file"),
        ((200, WAV, b"x" * 200_001), "larger than 200000 bytes"),
        ((200, WAV, b""), "it is empty"),
    ],
)
async def test_a_url_that_cannot_be_used_fails_with_one_line_naming_the_prop_only(
    rt, listeners, fake_dns, route, reason
):
    source = listeners("127.0.0.2")
    source.routes["/a"] = route
    fake_dns.answers = {"cdn.example": ["127.0.0.2"]}
    with pytest.raises(RenderError) as err:
        await assets.localise(rt, _request(f"http://cdn.example:{source.port}/a"))
    message = str(err.value)
    assert not err.value.retryable
    assert message.startswith("state.props.audioUrl could not be fetched: ") and reason in message
    assert "cdn.example" not in message and "127.0.0" not in message and "\n" not in message


async def test_a_redirect_from_an_allowed_url_to_a_refused_address_is_refused(
    rt, listeners, fake_dns
):
    source = listeners("127.0.0.2")
    internal = listeners("127.0.0.1")
    internal.routes["/internal-admin/secret.mp3"] = (200, {"Content-Type": "audio/mpeg"}, b"s")
    source.routes["/a.mp3"] = (302, {"Location": internal.url("/internal-admin/secret.mp3")}, b"")
    fake_dns.answers = {"cdn.example": ["127.0.0.2"]}
    with pytest.raises(RenderError) as err:
        await assets.localise(rt, _request(f"http://cdn.example:{source.port}/a.mp3"))
    assert "not allowed by the network policy" in str(err.value)
    assert "internal-admin" not in str(err.value)
    assert internal.hits == [] and len(source.hits) == 1


async def test_a_name_that_rebinds_to_loopback_at_render_time_is_refused(rt, listeners, fake_dns):
    internal = listeners("127.0.0.1")
    fake_dns.answers = {"cdn.example": ["127.0.0.1"]}
    with pytest.raises(RenderError):
        await assets.localise(rt, _request(f"http://cdn.example:{internal.port}/a.wav"))
    assert internal.hits == []


# --- through the whole system --------------------------------------------------------------


@pytest.fixture
def api_settings(request, tmp_path, database_url, api_port):
    allowed = getattr(request, "param", ["127.0.0.0/8"])
    return make_api_settings(tmp_path, database_url, api_port,
                             callbacks={"allowed_networks": allowed})


def _probe(path: Path) -> dict:
    out = subprocess.run(
        [str(find_ffprobe(REMOTION_DIR)), "-v", "error", "-print_format", "json",
         "-show_streams", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return json.loads(out.stdout)


async def _project(client, caller, audio_url):
    created = await client.post("/v1/projects", headers=caller.headers, json={
        "name": "with sound", "state": {"props": {"audioUrl": audio_url}},
    })
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_the_audio_is_fetched_once_by_renderbot_and_the_render_has_sound(
    client, api_caller, api_worker, db, listeners, tmp_path
):
    source = listeners("127.0.0.1")
    source.routes["/internal/tone.wav"] = (200, WAV, tone())
    caller = await api_caller(credits_=10)
    project_id = await _project(client, caller, source.url("/internal/tone.wav"))
    response = await client.post("/v1/renders", headers=caller.headers,
                                 json={"project_id": project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    done = await wait_for(db, response.json()["id"], within=240)
    assert done.status == "completed", done.error
    # One request, from renderbot — Chromium read renderbot's own copy.
    assert [(h.method, h.path) for h in source.hits] == [("GET", "/internal/tone.wav")]
    assert source.hits[0].headers["user-agent"] == assets.USER_AGENT
    video = await client.get(done.result_url, follow_redirects=True)
    assert video.status_code == 200
    out = tmp_path / "out.mp4"
    out.write_bytes(video.content)
    streams = _probe(out)["streams"]
    assert [s["codec_type"] for s in streams if s["codec_type"] == "audio"] == ["audio"]


@pytest.mark.parametrize("api_settings", [["127.0.0.2/32"]], indirect=True)
async def test_a_url_refused_at_render_time_fails_the_job_with_a_refund(
    client, api_caller, api_worker, db, listeners, fake_dns
):
    source = listeners("127.0.0.2")
    internal = listeners("127.0.0.1")
    source.routes["/a.mp3"] = (302, {"Location": internal.url("/secret")}, b"")
    fake_dns.answers = {"cdn.example": ["127.0.0.2"]}
    caller = await api_caller(credits_=10)
    project_id = await _project(client, caller, f"http://cdn.example:{source.port}/a.mp3")
    response = await client.post("/v1/renders", headers=caller.headers,
                                 json={"project_id": project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    done = await wait_for(db, response.json()["id"], within=120)
    assert done.status == "failed"
    assert done.error.startswith("state.props.audioUrl could not be fetched")
    assert "cdn.example" not in done.error and "127.0.0" not in done.error
    assert internal.hits == []
    balance = await client.get("/v1/credits", headers=caller.headers)
    assert balance.json()["balance"] == 10


def test_normalise_state_refuses_literal_addresses_without_a_lookup():
    with pytest.raises(InvalidInput) as err:
        projects.normalise_state({"props": {"audioUrl": "http://127.0.0.1:9391/x.mp3"}})
    assert err.value.field == "state.props.audioUrl"
    allowed = network.Policy.of(["127.0.0.0/8"])
    state = projects.normalise_state({"props": {"audioUrl": "http://127.0.0.1:9391/x.mp3"}},
                                     policy=allowed)
    assert state["props"]["audioUrl"] == "http://127.0.0.1:9391/x.mp3"
