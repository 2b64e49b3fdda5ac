"""An LLM judge behind any OpenAI-compatible chat endpoint, with an on-disk reply cache.

Standard library only (``urllib``): ``POST {base_url}/chat/completions`` with one user message.
The API key is read from the environment variable the user names (``OPENAI_API_KEY`` by default)
when a request is sent, never at import; with the variable unset no ``Authorization`` header is
sent (local servers such as vLLM need none).

Transient failures (HTTP 429, 5xx, timeouts, dropped connections) are retried with exponential
backoff (honouring a numeric ``Retry-After``); other HTTP errors, or a judge still failing after
the retries, raise ``JudgeError`` (a ``JanusEvalError``: one line, non-zero exit), so a broken
endpoint never turns into silent zero scores. A request that does not answer within ``timeout_s``
is retried ``timeout_retries`` times only (default once), so a hanging judge fails after about
twice the timeout with an error naming the URL and the timeout, not after minutes. A reply that is
not UTF-8 is a ``JudgeError`` too. ``check_judge_url`` rejects a malformed URL before any model runs.

Cache: one JSON file per request under ``cache_dir``, named by the sha256 of (model, prompt,
temperature, max_tokens, attempt). ``attempt`` counts the identical requests a scorer has already
made for the same sample, so a scorer that re-asks (MM-Vet does) gets a fresh reply each time,
and a rerun replays exactly the same replies without a single request. Files are written
atomically, so concurrent ranks and kills never leave a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from janus_eval.io import write_json
from janus_eval.errors import JanusEvalError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_JUDGE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_S = 60.0
MAX_DELAY_S = 120.0
"""Longest wait between retries, whatever ``Retry-After`` says."""


class JudgeError(JanusEvalError):
    """The judge endpoint could not be used (bad URL or key, or still failing after the retries)."""


def chat_completions_url(base_url: str) -> str:
    """The endpoint a client posts to: ``{base_url}/chat/completions``."""
    return base_url.rstrip("/") + "/chat/completions"


def check_judge_url(url: str) -> None:
    """Raise ``JanusEvalError`` unless ``url`` is ``http(s)://host[:port][/path]``.

    Called before the model runs, so a typo does not cost a whole generation pass first.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a non-numeric or out-of-range port raises ValueError
    except ValueError as err:
        raise JanusEvalError(f"judge URL {url!r} is not a valid URL ({err})") from err
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise JanusEvalError(f"judge URL {url!r} is not an http(s) URL such as https://api.openai.com/v1")


@dataclass(frozen=True)
class JudgeSettings:
    """How a run reaches its LLM judge (``--judge-*``); a task turns it into a ``JudgeClient``.

    ``model`` None is the protocol's default judge model; ``concurrency`` is how many samples are
    graded at once (records, their order and the reply cache are the same at any value).
    """

    url: str = DEFAULT_JUDGE_URL
    model: str | None = None
    key_env: str = DEFAULT_KEY_ENV
    timeout_s: float = DEFAULT_TIMEOUT_S
    concurrency: int = 1

    def __post_init__(self) -> None:
        check_judge_url(self.url)
        if not self.timeout_s > 0:
            raise JanusEvalError(f"judge timeout must be a positive number of seconds, got {self.timeout_s!r}")
        if int(self.concurrency) < 1:
            raise JanusEvalError(f"judge concurrency must be at least 1, got {self.concurrency!r}")

    @property
    def endpoint(self) -> str:
        """The URL requests go to (what a record's verdict depends on, with the model)."""
        return chat_completions_url(self.url)

    @classmethod
    def from_flags(cls, url: str | None, model: str | None, key_env: str = DEFAULT_KEY_ENV,
                   timeout_s: float = DEFAULT_TIMEOUT_S, concurrency: int = 1) -> JudgeSettings | None:  # fmt: skip
        """The ``--judge-*`` flags; with neither a URL nor a model there is no judge."""
        if url is None and model is None:
            return None
        return cls(url or DEFAULT_JUDGE_URL, model, key_env, float(timeout_s), int(concurrency))


@dataclass(frozen=True)
class JudgeReply:
    content: str
    """The reply text, stripped ("" when the judge sent nothing)."""
    model: str
    """The model name the endpoint reports (the requested one if it reports none)."""
    cached: bool
    raw: str | None = None
    """The reply text exactly as sent (None: a cache entry written before it was kept); MM-Vet's official
    evaluator reads the text before the first space, so a leading space matters there."""


class JudgeClient:
    """Chat completions with retries and a reply cache; one instance per configured judge."""

    def __init__(
        self,
        base_url: str,
        model: str,
        cache_dir: Path,
        key_env: str = DEFAULT_KEY_ENV,
        *,
        timeout_s: float = 60.0,
        timeout_retries: int = 1,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = chat_completions_url(base_url)
        self.model = model
        self.cache_dir = Path(cache_dir)
        self.key_env = key_env
        if not timeout_s > 0:
            raise JanusEvalError(f"judge timeout must be a positive number of seconds, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.timeout_retries = timeout_retries
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.requests_sent = 0
        """HTTP requests made by this client (cache hits excluded): what a rerun should keep at 0."""
        self._lock = threading.Lock()
        """Guards ``requests_sent``: MM-Vet may call ``complete`` from several threads."""

    def cache_key(self, prompt: str, temperature: float, max_tokens: int, attempt: int) -> str:
        payload = json.dumps([self.model, prompt, float(temperature), max_tokens, attempt], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def complete(self, prompt: str, temperature: float, max_tokens: int, attempt: int = 0) -> JudgeReply:
        """The judge's reply to ``prompt``: from the cache, else from the endpoint (then cached)."""
        key = self.cache_key(prompt, temperature, max_tokens, attempt)
        path = self.cache_dir / key[:2] / f"{key}.json"
        if path.exists():
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                return JudgeReply(content=entry["content"], model=entry["model"], cached=True, raw=entry.get("raw"))
            except (ValueError, KeyError):
                pass  # a damaged entry is simply asked again
        body = self._post({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": temperature, "max_tokens": max_tokens})  # fmt: skip
        raw, model = _reply_text(body, self.url, strip=False), str(body.get("model") or self.model)
        content = raw.strip()
        write_json(path, {"model": model, "content": content, "raw": raw, "request_model": self.model,
                          "temperature": temperature, "max_tokens": max_tokens, "attempt": attempt,
                          "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest()})  # fmt: skip
        return JudgeReply(content=content, model=model, cached=False, raw=raw)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        error, retry_after, timeouts = "", 0.0, 0
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(min(MAX_DELAY_S, max(self.backoff_s * 2 ** (attempt - 1), retry_after)))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            with self._lock:
                self.requests_sent += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", "replace")[:300]
                if err.code == 429 or err.code >= 500:
                    error, retry_after = f"HTTP {err.code}", _seconds(err.headers.get("Retry-After"))
                    continue
                hint = f" (is ${self.key_env} set to a valid key?)" if err.code in (401, 403) else ""
                raise JudgeError(f"judge {self.url} answered HTTP {err.code}{hint}: {detail}") from err
            except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as err:
                if _is_timeout(err):
                    timeouts += 1
                    if timeouts > self.timeout_retries:
                        raise JudgeError(
                            f"judge {self.url} did not answer within the {self.timeout_s:g} s timeout "
                            f"({timeouts} tries); check the server or raise the judge timeout"
                        ) from None
                error, retry_after = f"{type(err).__name__}: {getattr(err, 'reason', err)}", 0.0
                continue
            text = _utf8(raw, self.url)
            try:
                body = json.loads(text)
            except ValueError as err:
                raise JudgeError(f"judge {self.url} sent a non-JSON reply: {text[:200]!r}") from err
            if not isinstance(body, dict):
                raise JudgeError(f"judge {self.url} sent an unexpected reply: {text[:200]!r}")
            return body
        raise JudgeError(f"judge {self.url} still failing after {self.max_retries} retries ({error})")


def _is_timeout(err: BaseException) -> bool:
    """A read or connect timeout, whether raised bare or wrapped in ``URLError``."""
    reason = getattr(err, "reason", err)
    return isinstance(err, (TimeoutError, socket.timeout)) or isinstance(reason, (TimeoutError, socket.timeout))


def _utf8(raw: bytes, url: str) -> str:
    """The reply body as text; bytes that are not UTF-8 are a one-line ``JudgeError``, not a traceback."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JudgeError(f"judge {url} sent a reply that is not UTF-8 ({len(raw)} bytes, starting {raw[:40]!r})") from None


def _seconds(value: str | None) -> float:
    """A numeric ``Retry-After`` header in seconds; 0 when absent or an HTTP date."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _reply_text(body: dict[str, Any], url: str, strip: bool = True) -> str:
    """``choices[0].message.content``, stripped unless ``strip`` is False; a null content is an empty reply."""
    try:
        content = body["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise JudgeError(f"judge {url} reply has no choices[0].message: {json.dumps(body)[:200]}") from err
    text = content or ""
    return text.strip() if strip else text
