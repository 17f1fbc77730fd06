"""The outbound network policy and the pinned transport: which addresses pass, that a
connection goes to the address that was checked (one lookup, Host and SNI kept), that
every redirect hop is vetted, and the settings that describe the policy."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from core import network
from core.errors import InvalidInput
from core.settings import Settings

DEFAULT = network.Policy()
LOOPBACK = network.Policy.of(["127.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1", True),
        ("::ffff:93.184.216.34", True),  # IPv4-mapped: judged as the IPv4 address
        ("127.0.0.1", False),
        ("127.1.2.3", False),
        ("::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # CGNAT
        ("169.254.169.254", False),  # metadata
        ("169.254.1.1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("224.0.0.1", False),
        ("ff02::1", False),
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::8.8.8.8", False),
        ("64:ff9b::7f00:1", False),  # NAT64 → 127.0.0.1
        ("64:ff9b::808:808", False),  # NAT64 → 8.8.8.8: still another network's gateway
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:7f00:1::1", False),  # 6to4 → 127.0.0.1
        ("2002:808:808::1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo
        ("not-an-ip", False),
    ],
)
def test_only_public_unicast_addresses_pass_the_default_policy(address, allowed):
    assert DEFAULT.allows(address) is allowed


def test_allowed_networks_open_exactly_their_range_and_never_unspecified_or_multicast():
    policy = network.Policy.of(["127.0.0.0/8", "10.1.0.0/16"])
    assert policy.allows("127.0.0.1") and policy.allows("::ffff:127.0.0.1")
    assert policy.allows("10.1.2.3") and not policy.allows("10.2.0.1")
    assert not policy.allows("::1") and not policy.allows("0.0.0.0")
    # A translated form passes only when its prefix is listed AND its IPv4 address passes.
    assert not policy.allows("64:ff9b::7f00:1")
    nat64 = network.Policy.of(["64:ff9b::/96"])
    assert nat64.allows("64:ff9b::808:808") and not nat64.allows("64:ff9b::7f00:1")
    anything = network.Policy(allow_private=True)
    assert anything.allows("192.168.1.20") and anything.allows("169.254.169.254")
    assert not anything.allows("0.0.0.0") and not anything.allows("::")
    assert not anything.allows("224.0.0.1")


async def test_check_url_refuses_when_any_resolved_address_is_refused(fake_dns):
    fake_dns.answers = {"mixed.example": ["93.184.216.34", "10.0.0.5"],
                        "ok.example": ["93.184.216.34"], "nat64.example": ["64:ff9b::7f00:1"]}
    await network.check_url("https://ok.example/x", DEFAULT, field="f")
    for url in ("https://mixed.example/x", "http://nat64.example/", "http://[::1]/",
                "http://0.0.0.0/", "http://[2002:7f00:1::1]/", "http://unknown.example/"):
        with pytest.raises(InvalidInput) as err:
            await network.check_url(url, DEFAULT, field="f")
        assert err.value.field == "f"


async def test_localhost_with_a_trailing_dot_resolves_for_real_and_is_refused():
    with pytest.raises(InvalidInput):
        await network.check_url("http://localhost./x", DEFAULT, field="callback_url")


def test_redact_keeps_scheme_host_port_and_path_only():
    assert network.redact("https://u:p@hooks.example:8443/a/b?token=s3cret#frag") == (
        "https://hooks.example:8443/a/b"
    )
    assert network.redact("http://[::1]:9/x?k=v") == "http://[::1]:9/x"


# --- the pinned transport ----------------------------------------------------------------


async def _get(policy, url, **kwargs):
    async with httpx.AsyncClient(transport=network.PinnedTransport(policy), trust_env=False,
                                 timeout=10, **kwargs) as client:
        return await client.get(url)


async def test_the_connection_goes_to_the_checked_address_with_one_lookup(
    fake_dns, listeners
):
    # Same port on 127.0.0.2 (allowed) and 127.0.0.1 (not): a second lookup would
    # answer 127.0.0.1, so where the request lands shows which address was used.
    good = listeners("127.0.0.2")
    trap = listeners("127.0.0.1", good.port)
    fake_dns.answers = {"hooks.example": [["127.0.0.2"], ["127.0.0.1"]]}
    policy = network.Policy.of(["127.0.0.2/32"])
    response = await _get(policy, f"http://hooks.example:{good.port}/hook?token=x")
    assert response.status_code == 200
    assert fake_dns.count("hooks.example") == 1
    assert [h.path for h in good.hits] == ["/hook?token=x"]
    assert good.hits[0].headers["host"] == f"hooks.example:{good.port}"  # Host kept
    assert trap.hits == []
    # The next request looks up again, gets 127.0.0.1 and is refused: never sent.
    with pytest.raises(network.AddressRefused) as err:
        await _get(policy, f"http://hooks.example:{good.port}/hook")
    assert "hooks.example" not in str(err.value)
    assert trap.hits == [] and len(good.hits) == 1


async def test_a_rebinding_answer_with_loopback_second_is_refused_outright(fake_dns, listeners):
    trap = listeners("127.0.0.1")
    fake_dns.answers = {"rebind.example": ["93.184.216.34", "127.0.0.1"]}
    with pytest.raises(network.AddressRefused):
        await _get(DEFAULT, f"http://rebind.example:{trap.port}/")
    assert trap.hits == []


async def test_every_redirect_hop_is_vetted(fake_dns, listeners):
    allowed = listeners("127.0.0.2")
    internal = listeners("127.0.0.1")
    allowed.routes["/moved"] = (302, {"Location": internal.url("/secret")}, b"")
    allowed.routes["/fine"] = (302, {"Location": "/ok"}, b"")
    allowed.routes["/ok"] = (200, {}, b"ok")
    fake_dns.answers = {"files.example": ["127.0.0.2"]}
    policy = network.Policy.of(["127.0.0.2/32"])
    base = f"http://files.example:{allowed.port}"
    ok = await _get(policy, f"{base}/fine", follow_redirects=True)
    assert ok.status_code == 200 and ok.text == "ok"
    assert ok.request.url.host == "files.example"  # what the caller sees: the name
    with pytest.raises(network.AddressRefused):
        await _get(policy, f"{base}/moved", follow_redirects=True)
    assert internal.hits == []


async def test_https_keeps_the_host_name_for_sni_and_certificate_checks(
    fake_dns, listeners, monkeypatch
):
    # A plain-HTTP listener: the TLS handshake fails, but what reached the connection
    # layer shows the IP as the connection target and the name for SNI and Host.
    seen: list[httpx.Request] = []
    listener = listeners("127.0.0.2")
    fake_dns.answers = {"tls.example": ["127.0.0.2"]}
    original = httpx.AsyncHTTPTransport.handle_async_request

    async def spy(self, request):
        seen.append(request)
        return await original(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", spy)
    with pytest.raises(httpx.ConnectError):
        await _get(network.Policy.of(["127.0.0.2/32"]), f"https://tls.example:{listener.port}/")
    assert seen[-1].url.host == "127.0.0.2"
    assert seen[-1].extensions["sni_hostname"] == "tls.example"
    assert seen[-1].headers["host"] == f"tls.example:{listener.port}"


# --- settings -------------------------------------------------------------------------


def test_the_policy_comes_from_network_settings_and_the_old_callbacks_name():
    both = Settings(_env_file=None, network={"allowed_networks": ["10.0.0.0/8"]},
                    callbacks={"allowed_networks": ["127.0.0.0/8"]})
    assert both.network.allowed_networks == ["10.0.0.0/8", "127.0.0.0/8"]
    policy = network.policy(both)
    assert policy.allows("127.0.0.1") and policy.allows("10.9.9.9")
    assert not policy.allows("192.168.0.1")


def test_the_old_environment_name_still_works(monkeypatch):
    monkeypatch.setenv("RENDERBOT_CALLBACKS__ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    assert network.policy(Settings(_env_file=None)).allows("127.0.0.1")
    monkeypatch.delenv("RENDERBOT_CALLBACKS__ALLOWED_NETWORKS")
    monkeypatch.setenv("RENDERBOT_NETWORK__ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    assert network.policy(Settings(_env_file=None)).allows("127.0.0.1")


@pytest.mark.parametrize("section", ["network", "callbacks"])
def test_a_bad_cidr_is_refused_at_startup_naming_the_field(section):
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, **{section: {"allowed_networks": ["127.0.0.0/8", "nope"]}})
    error = err.value.errors()[0]
    assert error["loc"] == (section, "allowed_networks")
    assert f"RENDERBOT_{section.upper()}__ALLOWED_NETWORKS: 'nope' is not a CIDR" in error["msg"]


@pytest.mark.parametrize(
    ("values", "env_name"),
    [
        ({"public_base_url": "renderbot.example.com"}, "RENDERBOT_PUBLIC_BASE_URL"),
        ({"public_base_url": ""}, "RENDERBOT_PUBLIC_BASE_URL"),
        ({"s3_endpoint_url": "minio:9000"}, "RENDERBOT_S3_ENDPOINT_URL"),
        ({"s3_endpoint_url": "http://key:s3cret@minio :9000"}, "RENDERBOT_S3_ENDPOINT_URL"),
        ({"remotion_serve_url": "s3://bucket/site"}, "RENDERBOT_REMOTION_SERVE_URL"),
        ({"discord": {"api_base": "/api/v10"}}, "RENDERBOT_DISCORD__API_BASE"),
        ({"discord": {"gateway_url": "https://gateway.example"}}, "RENDERBOT_DISCORD__GATEWAY_URL"),
        ({"slack": {"api_base": "ftp://slack.example/api/"}}, "RENDERBOT_SLACK__API_BASE"),
        ({"remotion": {"webhook_url": "http:///webhooks"}}, "RENDERBOT_REMOTION__WEBHOOK_URL"),
    ],
)
def test_a_url_setting_that_is_not_a_url_is_one_line_naming_it(values, env_name):
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, **values)
    message = err.value.errors()[0]["msg"]
    assert env_name in message and "\n" not in message
    assert "s3cret" not in message  # the value is never echoed


def test_url_settings_accept_urls_and_treat_empty_optional_ones_as_unset():
    settings = Settings(
        _env_file=None, public_base_url="https://renderbot.example.com", s3_endpoint_url="",
        discord={"gateway_url": "wss://gateway.example/?v=10", "api_base": ""},
        remotion_serve_url="https://bucket.s3.example/sites/renderbot/index.html",
    )
    assert settings.s3_endpoint_url is None and settings.discord.api_base is None
    assert settings.discord.gateway_url == "wss://gateway.example/?v=10"


async def test_a_refused_host_and_one_that_does_not_resolve_get_the_same_answer(fake_dns):
    fake_dns.answers = {"db.internal": ["10.0.0.7"]}
    answers = set()
    for url in ("http://db.internal/", "http://nothing.internal/"):
        with pytest.raises(InvalidInput) as err:
            await network.check_url(url, DEFAULT, field="callback_url")
        answers.add(str(err.value))
    assert len(answers) == 1  # no oracle for which internal names exist
