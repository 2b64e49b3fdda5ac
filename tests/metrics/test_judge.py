"""The OpenAI-compatible judge client against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_chat_server import serve

from janus_eval.metrics.judge import JudgeClient, JudgeError


def fake_server(script: list[tuple[int, Any]]):
    """Serve ``script`` in order (the last entry repeats): (status, reply content | "sleep:<s>")."""
    return serve(lambda request, n: script[min(n, len(script) - 1)], base_path="/v1/")


def client(url: str, cache: Path, **kwargs: Any) -> JudgeClient:
    sleeps: list[float] = []
    judge = JudgeClient(url, "judge-model", cache, "JANUS_TEST_JUDGE_KEY", sleep=sleeps.append, **kwargs)
    judge.sleeps = sleeps  # type: ignore[attr-defined]
    return judge


def test_request_shape_key_and_reply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JANUS_TEST_JUDGE_KEY", "sk-test")
    with fake_server([(200, "  0.8 \n")]) as (url, seen):
        reply = client(url, tmp_path).complete("grade this", 0.0, 128)
    assert reply.content == "0.8" and reply.model == "fake-judge-1" and not reply.cached
    assert seen[0]["path"] == "/v1/chat/completions" and seen[0]["auth"] == "Bearer sk-test"
    assert seen[0]["body"] == {"model": "judge-model", "messages": [{"role": "user", "content": "grade this"}],
                               "temperature": 0.0, "max_tokens": 128}  # fmt: skip


def test_no_key_no_authorization_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("JANUS_TEST_JUDGE_KEY", raising=False)
    with fake_server([(200, "1")]) as (url, seen):
        client(url, tmp_path).complete("p", 0.0, 128)
    assert seen[0]["auth"] is None


def test_cache_hit_on_rerun_sends_nothing(tmp_path: Path):
    with fake_server([(200, "0.3"), (200, "0.9")]) as (url, seen):
        first = client(url, tmp_path).complete("p", 0.0, 128)
        again = client(url, tmp_path)  # a new process: same cache folder
        replay = again.complete("p", 0.0, 128)
        assert len(seen) == 1 and again.requests_sent == 0
        assert replay.content == first.content == "0.3" and replay.cached
        # another attempt, temperature or prompt is another key
        assert again.complete("p", 0.0, 128, attempt=1).content == "0.9"
        again.complete("p", 0.5, 128)
        again.complete("q", 0.0, 128)
        assert len(seen) == 4


def test_retries_after_500_and_429_with_backoff(tmp_path: Path):
    with fake_server([(500, None), (429, None), (200, "0.5")]) as (url, seen):
        judge = client(url, tmp_path, backoff_s=1.0)
        assert judge.complete("p", 0.0, 128).content == "0.5"
    assert len(seen) == 3 and judge.sleeps == [1.0, 2.0]  # type: ignore[attr-defined]


def test_retries_after_a_timeout(tmp_path: Path):
    with fake_server([(200, "sleep:0.6"), (200, "0.4")]) as (url, seen):
        judge = client(url, tmp_path, timeout_s=0.2)
        assert judge.complete("p", 0.0, 128).content == "0.4"
    assert len(seen) == 2


def test_persistent_failure_is_an_error_not_a_score(tmp_path: Path):
    with fake_server([(503, None)]) as (url, seen):
        with pytest.raises(JudgeError, match="still failing after 2 retries"):
            client(url, tmp_path, max_retries=2).complete("p", 0.0, 128)
    assert len(seen) == 3 and not any(tmp_path.rglob("*.json"))


def test_auth_failure_names_the_env_var(tmp_path: Path):
    with fake_server([(401, None)]) as (url, seen):
        with pytest.raises(JudgeError, match=r"JANUS_TEST_JUDGE_KEY"):
            client(url, tmp_path).complete("p", 0.0, 128)
    assert len(seen) == 1  # not retried


def test_null_content_is_an_empty_reply(tmp_path: Path):
    with fake_server([(200, None)]) as (url, _):
        assert client(url, tmp_path).complete("p", 0.0, 128).content == ""


def test_unreachable_endpoint(tmp_path: Path):
    judge = client("http://127.0.0.1:9", tmp_path, max_retries=1, timeout_s=0.5)
    with pytest.raises(JudgeError, match="still failing"):
        judge.complete("p", 0.0, 128)


# -- timeout, non-UTF-8 replies, URL check ----------------------------------------------------------
def test_a_hanging_judge_fails_after_the_timeout_with_one_line(tmp_path: Path):
    """The server never answers, so only the client's timeout ends each request (else this call never returns):
    one timeout retry, then one line naming the URL and the timeout, not ``max_retries`` x the timeout."""
    with fake_server([(200, "hang")]) as (url, seen):
        judge = client(url, tmp_path, timeout_s=0.3, max_retries=6, backoff_s=1.0)
        with pytest.raises(JudgeError) as info:
            judge.complete("p", 0.0, 128)
    message = str(info.value)
    assert "\n" not in message and judge.url in message and "0.3 s timeout" in message and "(2 tries)" in message
    assert len(seen) == judge.requests_sent == 2 and judge.sleeps == [1.0]  # type: ignore[attr-defined]
    assert not any(tmp_path.rglob("*.json"))


def test_timeout_retries_are_configurable(tmp_path: Path):
    with fake_server([(200, "hang")]) as (url, seen):
        with pytest.raises(JudgeError, match="1 tries"):
            client(url, tmp_path, timeout_s=0.2, timeout_retries=0).complete("p", 0.0, 128)
    assert len(seen) == 1


def test_non_utf8_reply_is_a_one_line_error(tmp_path: Path):
    with fake_server([(200, b"\xff\xfe{\x80}")]) as (url, _):
        with pytest.raises(JudgeError, match="not UTF-8") as info:
            client(url, tmp_path).complete("p", 0.0, 128)
    assert "\n" not in str(info.value) and url.rstrip("/") in str(info.value)
    assert not isinstance(info.value.__cause__, UnicodeDecodeError) or info.value.__suppress_context__


@pytest.mark.parametrize("url", ["notaurl", "ftp://host/v1", "http://", "https:///v1", "http://host:port/v1",
                                 "localhost:8000/v1", "http://exa mple.com/v1", ""])  # fmt: skip
def test_check_judge_url_rejects(url):
    from janus_eval.metrics.judge import check_judge_url
    from janus_eval.task import JanusEvalError

    with pytest.raises(JanusEvalError, match="judge URL"):
        check_judge_url(url)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://127.0.0.1:8000/v1", "http://judge/"])
def test_check_judge_url_accepts(url):
    from janus_eval.metrics.judge import check_judge_url

    check_judge_url(url)


def test_bad_timeout_is_an_error(tmp_path: Path):
    from janus_eval.task import JanusEvalError

    with pytest.raises(JanusEvalError, match="timeout"):
        client("http://127.0.0.1:9", tmp_path, timeout_s=0)
