"""`renderbot dashboard`: refuses to start before any admin exists; runs Streamlit
headless without usage statistics (the browser test starts it for real)."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.dashboard import streamlit_command
from cli.main import app


def test_refuses_to_start_before_any_admin_exists(monkeypatch, tmp_path):
    from core.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RENDERBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("RENDERBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("RENDERBOT_DASHBOARD__TRUSTED_USER_HEADER", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0", "--port", "8599"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no dashboard admin yet: run `renderbot admins create NAME --role operator`" \
        in result.output


def test_streamlit_runs_headless_without_telemetry_on_the_chosen_address():
    command = " ".join(streamlit_command("127.0.0.1", 8765))
    assert "streamlit run" in command and "dashboard/app.py" in command
    for flag in ("--server.address 127.0.0.1", "--server.port 8765", "--server.headless true",
                 "--browser.gatherUsageStats false"):
        assert flag in command
