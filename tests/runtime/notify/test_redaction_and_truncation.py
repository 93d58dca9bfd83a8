"""Pure helpers: webhook URLs shown without their keys, text cut on UTF-8 character boundaries."""

from __future__ import annotations

import pytest

from engine.runtime.notify.redaction import redact_url, scrub, url_secrets
from engine.runtime.notify.webhooks import truncate_utf8


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=6a4f1d2e-1b38-4d1b-a994-790f21fc8d30",
         "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"),
        ("https://oapi.dingtalk.com/robot/send?access_token=0f1e2d3c4b5a",
         "https://oapi.dingtalk.com/robot/send?access_token=***"),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/f19a2b3c-aaaa-bbbb-cccc-1234567890ab",
         "https://open.feishu.cn/open-apis/bot/v2/hook/***"),
        ("https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xyz1234567890abcdefXYZ",
         "https://hooks.slack.com/services/***/***/***"),
        ("http://robot:pa55@10.0.0.7:8080/hooks/gongdan?a=1&b=2#frag", "http://***@10.0.0.7:8080/hooks/gongdan?a=***&b=***"),
        ("https://example.com/api/v1/notify", "https://example.com/api/v1/notify"),
        ("http://[::1]:9000/h", "http://[::1]:9000/h"),
        ("http://host:port/h", "<invalid URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_removes_every_part_redact_hides() -> None:
    url = "http://robot:pa55word@10.0.0.7/hook/f19a2b3c-aaaa-bbbb-cccc-1234567890ab?key=k-12345"
    text = f"POST {url} failed: key k-12345 refused for robot:pa55word"
    assert scrub(text, [*url_secrets(url), None, "", "ab"]) == (
        "POST http://***@10.0.0.7/hook/***?key=*** failed: key *** refused for ***")


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("工单", 6, "工单"),
        ("工单", 5, "工"),
        ("工单", 3, "工"),
        ("工单", 2, ""),
        ("a工", 1, "a"),
        ("🔧ok", 3, ""),
        ("🔧ok", 5, "🔧o"),
        ("", 0, ""),
        ("abc", 0, ""),
    ],
)
def test_truncate_utf8_never_splits_a_character(text: str, limit: int, cut: str) -> None:
    assert truncate_utf8(text, limit) == cut
    assert len(cut.encode()) <= limit
