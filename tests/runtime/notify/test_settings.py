"""load_settings: the config file, environment overrides, and errors that name the key and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime.notify.settings import (
    NotifySettings,
    SettingsError,
    SmtpSettings,
    WebhookSettings,
    channel_variable,
    load_settings,
)

WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=6a4f1d2e-1b38-4d1b-a994-790f21fc8d30"
CONFIG = f"""
[smtp]
host = "smtp.example.com"
port = 587
security = "starttls"
username = "gongdan"
password = "file-password"
sender = "Gongdan 工单 <gongdan@example.com>"
verify_tls = false
timeout = 5

[channels.after_sales_wecom]
url = "{WECOM_URL}"

[channels.ops-dingtalk]
url = "https://oapi.dingtalk.com/robot/send?access_token=abc123def456"
secret = "SECdingtalk"
timeout = 3.5

[notify]
base_url = "https://gongdan.example.com/"
max_attempts = 5
backoff_seconds = 10
backoff_max_seconds = 600
lease_seconds = 90
concurrency = 4

[server]   # other parts of the product may keep their own tables in the same file
workers = 2
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gongdan.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_file_only(config: Path) -> None:
    assert load_settings({}, config) == NotifySettings(
        smtp=SmtpSettings(host="smtp.example.com", port=587, security="starttls", username="gongdan",
                          password="file-password", sender="Gongdan 工单 <gongdan@example.com>", timeout=5.0,
                          verify_tls=False),
        webhooks={
            "after_sales_wecom": WebhookSettings(url=WECOM_URL),
            "ops-dingtalk": WebhookSettings(url="https://oapi.dingtalk.com/robot/send?access_token=abc123def456",
                                            secret="SECdingtalk", timeout=3.5),
        },
        base_url="https://gongdan.example.com",
        max_attempts=5,
        backoff_seconds=10.0,
        backoff_max_seconds=600.0,
        lease_seconds=90.0,
        concurrency=4,
    )


def test_environment_overrides_the_file(config: Path) -> None:
    settings = load_settings({
        "GONGDAN_SMTP_HOST": "relay.internal",
        "GONGDAN_SMTP_PORT": "2525",
        "GONGDAN_SMTP_PASSWORD": "env-password",
        "GONGDAN_SMTP_VERIFY_TLS": "yes",
        "GONGDAN_CHANNEL_OPS_DINGTALK_SECRET": "SECfromenv",
        "GONGDAN_CHANNEL_STORE_FEISHU_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/f19a2b3c",
        "GONGDAN_BASE_URL": "http://10.0.0.5:8000",
        "GONGDAN_NOTIFY_MAX_ATTEMPTS": "12",
        "GONGDAN_NOTIFY_BACKOFF_SECONDS": "1.5",
        "GONGDAN_SMTP_SENDER": "",  # empty counts as unset: the file's sender stays
    }, config)
    assert settings.smtp == SmtpSettings(host="relay.internal", port=2525, security="starttls", username="gongdan",
                                         password="env-password", sender="Gongdan 工单 <gongdan@example.com>",
                                         timeout=5.0, verify_tls=True)
    assert dict(settings.webhooks) == {
        "after_sales_wecom": WebhookSettings(url=WECOM_URL),
        "ops-dingtalk": WebhookSettings(url="https://oapi.dingtalk.com/robot/send?access_token=abc123def456",
                                        secret="SECfromenv", timeout=3.5),
        "store_feishu": WebhookSettings(url="https://open.feishu.cn/open-apis/bot/v2/hook/f19a2b3c"),
    }
    assert (settings.base_url, settings.max_attempts, settings.backoff_seconds) == ("http://10.0.0.5:8000", 12, 1.5)


def test_config_file_from_variable_then_working_directory(config: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_settings({}) == NotifySettings()  # no file anywhere: defaults, e-mail off
    assert load_settings({"GONGDAN_CONFIG": str(config)}).max_attempts == 5
    (elsewhere / "gongdan.toml").write_text("[notify]\nmax_attempts = 3\n", encoding="utf-8")
    assert load_settings({}).max_attempts == 3
    assert load_settings({"GONGDAN_CONFIG": str(config)}).max_attempts == 5


def test_default_port_follows_security() -> None:
    ports = [load_settings({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_SECURITY": s}).smtp for s in
             ("none", "starttls", "tls")]
    assert [s.port for s in ports if s] == [25, 587, 465]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_PORT": "smtp"},
         "GONGDAN_SMTP_PORT: expected a port number 1-65535, got 'smtp'"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_PORT": "70000"},
         "GONGDAN_SMTP_PORT: expected a port number 1-65535, got 70000"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_SECURITY": "ssl"},
         "GONGDAN_SMTP_SECURITY: expected one of none, starttls, tls, got 'ssl'"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_VERIFY_TLS": "maybe"},
         "GONGDAN_SMTP_VERIFY_TLS: expected true or false, got 'maybe'"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_SENDER": "gongdan"},
         "GONGDAN_SMTP_SENDER: expected an e-mail address, got 'gongdan'"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_USERNAME": "gongdan"},
         "GONGDAN_SMTP_USERNAME: SMTP username and password are set together (one is missing)"),
        ({"GONGDAN_SMTP_HOST": "mail", "GONGDAN_SMTP_TIMEOUT": "0"},
         "GONGDAN_SMTP_TIMEOUT: expected a positive number of seconds, got 0.0"),
        ({"GONGDAN_SMTP_PORT": "25"},
         "GONGDAN_SMTP_PORT: set but there is no SMTP host (GONGDAN_SMTP_HOST or smtp.host)"),
        ({"GONGDAN_SMTP_HOTS": "mail"},
         "GONGDAN_SMTP_HOTS: unknown setting; expected one of GONGDAN_SMTP_HOST, GONGDAN_SMTP_PORT, "
         "GONGDAN_SMTP_SECURITY, GONGDAN_SMTP_USERNAME, GONGDAN_SMTP_PASSWORD, GONGDAN_SMTP_SENDER, "
         "GONGDAN_SMTP_VERIFY_TLS, GONGDAN_SMTP_TIMEOUT"),
        # the URL holds the channel's key: the message names the variable but never echoes the value
        ({"GONGDAN_CHANNEL_OPS_URL": "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123"},
         "GONGDAN_CHANNEL_OPS_URL: expected an http:// or https:// URL"),
        ({"GONGDAN_CHANNEL_OPS_SECRET": "s"},
         "GONGDAN_CHANNEL_OPS_SECRET: set but channel 'ops' has no URL (GONGDAN_CHANNEL_OPS_URL or channels.ops.url)"),
        ({"GONGDAN_CHANNEL_OPS": "https://example.com"},
         "GONGDAN_CHANNEL_OPS: expected GONGDAN_CHANNEL_<NAME>_URL, _SECRET or _TIMEOUT"),
        ({"GONGDAN_BASE_URL": "gongdan.example.com"},
         "GONGDAN_BASE_URL: expected an http:// or https:// URL, got 'gongdan.example.com'"),
        ({"GONGDAN_NOTIFY_CONCURRENCY": "0"},
         "GONGDAN_NOTIFY_CONCURRENCY: expected a whole number of at least 1, got 0"),
        ({"GONGDAN_NOTIFY_MAX_ATTEMPTS": "2.5"},
         "GONGDAN_NOTIFY_MAX_ATTEMPTS: expected a whole number of at least 1, got '2.5'"),
        ({"GONGDAN_NOTIFY_LEASE_SECONDS": "-1"},
         "GONGDAN_NOTIFY_LEASE_SECONDS: expected a positive number of seconds, got -1.0"),
        ({"GONGDAN_NOTIFY_BACKOFF_MAX_SECONDS": "5"},
         "GONGDAN_NOTIFY_BACKOFF_MAX_SECONDS: backoff_max_seconds (5) is less than backoff_seconds (30)"),
        ({"GONGDAN_NOTIFY_RETRIES": "3"},
         "GONGDAN_NOTIFY_RETRIES: unknown setting; expected GONGDAN_BASE_URL or one of "
         "GONGDAN_NOTIFY_MAX_ATTEMPTS, GONGDAN_NOTIFY_BACKOFF_SECONDS, GONGDAN_NOTIFY_BACKOFF_MAX_SECONDS, "
         "GONGDAN_NOTIFY_LEASE_SECONDS, GONGDAN_NOTIFY_CONCURRENCY"),
        ({"GONGDAN_CONFIG": "/nonexistent/gongdan.toml"},
         "GONGDAN_CONFIG: config file /nonexistent/gongdan.toml not found"),
    ],
)
def test_bad_environment_values(env: dict[str, str], message: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[smtp]\nhost = "mail"\nport = "x"\n', "smtp.port: expected a port number 1-65535, got 'x'"),
        ('[smtp]\nhost = "mail"\nport = true\n', "smtp.port: expected a port number 1-65535, got True"),
        ('[smtp]\nhots = "mail"\n', "smtp.hots: unknown key; expected one of host, port, security, username, "
                                    "password, sender, verify_tls, timeout"),
        ('[smtp]\nhost = ""\n', "smtp.host: expected a non-empty string"),
        ('[channels.ops]\nurl = "https://example.com/h"\nsign = "s"\n',
         "channels.ops.sign: unknown key; expected one of url, secret, timeout"),
        ('[channels]\nops = "https://example.com/h"\n', "[channels.ops] must be a table"),
        ('[channels.ops]\nsecret = "s"\n',
         "channels.ops.secret: set but channel 'ops' has no URL (GONGDAN_CHANNEL_OPS_URL or channels.ops.url)"),
        ('[channels.a-b]\nurl = "https://example.com/1"\n[channels.a_b]\nurl = "https://example.com/2"\n',
         "channels.a_b: the same channel as channels.a-b"),
        ("[notify]\nmax_attempts = 0\n", "notify.max_attempts: expected a whole number of at least 1, got 0"),
        ('[notify]\nbase_url = "ftp://files"\n', "notify.base_url: expected an http:// or https:// URL, got 'ftp://files'"),
        ("notify = 3\n", "[notify] must be a table"),
    ],
)
def test_bad_file_values(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "gongdan.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, path)
    assert str(caught.value) == f"{path}: {message}"


def test_file_that_is_not_toml_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "gongdan.toml"
    path.write_text("[smtp\nhost = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, path)
    assert str(caught.value) == f"{path}: not a valid TOML file: Expected ']' at the end of a table declaration " \
                                "(at line 1, column 6)"
    with pytest.raises(SettingsError) as caught:
        load_settings({}, tmp_path / "missing.toml")
    assert str(caught.value) == f"{tmp_path / 'missing.toml'}: config file not found"


def test_repr_hides_secrets(config: Path) -> None:
    settings = load_settings({"GONGDAN_CHANNEL_SLACK_OPS_URL": "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xyz1234567890abcdefXYZ"},
                             config)
    shown = repr(settings)
    for secret in ("file-password", "6a4f1d2e", "abc123def456", "SECdingtalk", "T0123ABCD", "xyz1234567890abcdefXYZ"):
        assert secret not in shown
    assert repr(settings.webhooks["ops-dingtalk"]) == (
        "WebhookSettings(url='https://oapi.dingtalk.com/robot/send?access_token=***', secret='***', timeout=3.5)")
    assert repr(settings.smtp) == (
        "SmtpSettings(host='smtp.example.com', port=587, security='starttls', username='gongdan', password='***', "
        "sender='Gongdan 工单 <gongdan@example.com>', timeout=5.0, verify_tls=False)")
    assert repr(SmtpSettings("mail")).count("password=None") == 1


def test_webhook_lookup_treats_dash_and_underscore_alike(config: Path) -> None:
    settings = load_settings({"GONGDAN_CHANNEL_AFTER_SALES_WECOM_SECRET": "s3"}, config)
    assert settings.webhook("after-sales-wecom") == WebhookSettings(url=WECOM_URL, secret="s3")
    assert settings.webhook("ops_dingtalk") == settings.webhooks["ops-dingtalk"]
    assert settings.webhook("unknown") is None
    assert channel_variable("after-sales-wecom") == "GONGDAN_CHANNEL_AFTER_SALES_WECOM_URL"
    assert channel_variable("ops", "SECRET") == "GONGDAN_CHANNEL_OPS_SECRET"


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = NotifySettings(backoff_seconds=30, backoff_max_seconds=3600)
    assert [settings.backoff(n) for n in range(0, 10)] == [30, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert settings.backoff(10_000) == 3600
