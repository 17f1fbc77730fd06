"""Settings are checked at startup: a bad value is one line naming its variable; a
partial pricing override keeps the other defaults (no KeyError → 500 on every quote)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core import pricing
from core.render_settings import RenderSettings
from core.settings import Settings, describe_error
from tests.cli.test_cli import Cli


def _settings(monkeypatch, tmp_path, **env: str) -> Settings:
    monkeypatch.setenv("RENDERBOT_VAR_DIR", str(tmp_path / "var"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_a_partial_quality_override_keeps_the_other_defaults(monkeypatch, tmp_path):
    s = _settings(monkeypatch, tmp_path, RENDERBOT_PRICING__QUALITY_MULTIPLIERS='{"high": 2}')
    assert s.pricing.quality_multipliers == {"low": 0.75, "medium": 1.0, "high": 2.0}
    costs = {q: pricing.credit_cost(RenderSettings(duration=60, quality=q), s.pricing)
             for q in ("low", "medium", "high")}
    assert costs == {"low": 8, "medium": 10, "high": 20}


@pytest.mark.parametrize("env, says", [
    ({"RENDERBOT_PRICING__QUALITY_MULTIPLIERS": '{"ultra": 3}'},
     "RENDERBOT_PRICING__QUALITY_MULTIPLIERS: unknown quality 'ultra'"),
    ({"RENDERBOT_PRICING__QUALITY_MULTIPLIERS": '{"high": -1}'},
     "RENDERBOT_PRICING__QUALITY_MULTIPLIERS: high must be a number above 0"),
    ({"RENDERBOT_PRICING__CREDITS_PER_MINUTE": "0"},
     "RENDERBOT_PRICING__CREDITS_PER_MINUTE: Input should be greater than or equal to 1"),
    ({"RENDERBOT_PRICING__EFFECT_SURCHARGE": "nan"}, "RENDERBOT_PRICING__EFFECT_SURCHARGE:"),
    ({"RENDERBOT_DASHBOARD__MAX_GRANT": "0"}, "RENDERBOT_DASHBOARD__MAX_GRANT:"),
])
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(monkeypatch, tmp_path, env, says):
    with pytest.raises(ValidationError) as refused:
        _settings(monkeypatch, tmp_path, **env)
    line = describe_error(refused.value)
    assert line.startswith(says) and "\n" not in line


def test_the_cli_refuses_to_start_with_a_bad_pricing_override(tmp_path):
    cli = Cli(tmp_path, {"RENDERBOT_PRICING__QUALITY_MULTIPLIERS": '{"hihg": 2}'})
    line = cli.refused("accounts", "list", says="configuration: "
                       "RENDERBOT_PRICING__QUALITY_MULTIPLIERS: unknown quality 'hihg'")
    assert len(line) < 200
