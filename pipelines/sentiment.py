"""Comment sentiment: the label rule of the contract and pluggable scorers (VADER, Comprehend, Bedrock).

A scorer is a small frozen dataclass: picklable, hashable and cheap to ship to Spark's Python
workers. What is expensive to build (the VADER analyzer, a boto3 client) lives in a module-level
cache keyed by the scorer's configuration, so each Python worker builds it once and reuses it
across tasks (Spark reuses its Python workers). Every scorer returns a compound-like score in
[-1, 1], or None for a missing, empty or whitespace-only comment; :func:`label_for` turns any
score into the contract's label.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeGuard, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    # Only the AWS scorers need boto3: workers that score with VADER never import it.
    from pipelines.aws.clients import AwsEndpoint
    from pipelines.settings import SentimentSettings

# The contract's thresholds: Good at >= 0.05, Bad at <= -0.05 (both boundaries inclusive).
GOOD_AT_LEAST = 0.05
BAD_AT_MOST = -0.05

Label = Literal["Good", "Bad", "Neutral"]

# Comprehend rejects documents over 5,000 UTF-8 bytes and batches over 25 documents.
COMPREHEND_MAX_BYTES = 5000
COMPREHEND_MAX_BATCH = 25
# Per-document Comprehend errors worth another attempt; anything else is a bad request.
_COMPREHEND_RETRYABLE = frozenset({"INTERNAL_SERVER_ERROR", "ThrottlingException", "InternalServerException"})

DEFAULT_MAX_CHARS = 1000
DEFAULT_BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class SentimentScoringError(RuntimeError):
    """A scorer could not score a batch of comments."""


class ComprehendError(SentimentScoringError):
    """Comprehend refused documents of a batch, or kept failing after retries."""


class BedrockAnswerError(SentimentScoringError):
    """A Bedrock model's answer is not the JSON list of scores the prompt asked for."""


def label_for(score: float | None) -> Label | None:
    """The contract's label for a compound-like score: Good >= 0.05, Bad <= -0.05, else Neutral.

    None (no comment) stays None. This is the one place the thresholds are applied.
    """
    if score is None or math.isnan(score):
        return None
    if score >= GOOD_AT_LEAST:
        return "Good"
    if score <= BAD_AT_MOST:
        return "Bad"
    return "Neutral"


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores a batch of comments; one result per input, None where there is nothing to score."""

    def score(self, texts: Sequence[str | None]) -> list[float | None]: ...


# --- the per-worker cache ------------------------------------------------------------------

_T = TypeVar("_T")
_BUILT: dict[Hashable, Any] = {}
_BUILD_LOCK = threading.Lock()


def cached(key: Hashable, build: Callable[[], _T]) -> _T:
    """The object built for ``key`` in this process, building it on first use.

    Python workers run one task at a time, but Spark may run a UDF's input feeder in a second
    thread, so building is guarded.
    """
    try:
        return _BUILT[key]
    except KeyError:
        pass
    with _BUILD_LOCK:
        if key not in _BUILT:
            _BUILT[key] = build()
        return _BUILT[key]


def _has_text(text: str | None) -> TypeGuard[str]:
    return text is not None and text != "" and not text.isspace()


def cap_text(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    # Cutting inside a word could turn it into another lexicon word; drop the partial word.
    if not (head[-1].isspace() or text[max_chars].isspace()):
        cut = head.rfind(" ")
        if cut > 0:
            head = head[:cut]
    return head


# --- VADER ---------------------------------------------------------------------------------


def vader_analyzer() -> SentimentIntensityAnalyzer:
    """This process's VADER analyzer (it loads two lexicon files, so it is built once)."""

    def build() -> SentimentIntensityAnalyzer:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        return SentimentIntensityAnalyzer()

    return cached(("vader",), build)


def vader_score(text: str | None, max_chars: int = DEFAULT_MAX_CHARS) -> float | None:
    """VADER's compound score of one comment, None when it is missing, empty or blank.

    Text beyond ``max_chars`` is not scored: VADER's run time grows with the square of the
    length (about 1.6 ms at 1,000 characters, 130 ms at 10,000).
    """
    if not _has_text(text):
        return None
    scores: Mapping[str, float] = vader_analyzer().polarity_scores(cap_text(text, max_chars))
    return float(scores["compound"])


@dataclass(frozen=True)
class VaderScorer:
    """VADER (the default): local, free, deterministic; the contract's reference scorer."""

    max_chars: int = DEFAULT_MAX_CHARS

    def __post_init__(self) -> None:
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {self.max_chars}")

    def score(self, texts: Sequence[str | None]) -> list[float | None]:
        polarity = vader_analyzer().polarity_scores
        cap = self.max_chars
        # The loop is the hot path of the pandas UDF: no per-row calls beyond VADER itself.
        return [
            float(polarity(t if len(t) <= cap else cap_text(t, cap))["compound"]) if t and not t.isspace() else None
            for t in texts
        ]


# --- Amazon Comprehend ---------------------------------------------------------------------


def comprehend_document_score(sentiment_scores: Mapping[str, float]) -> float:
    """Comprehend's SentimentScore mapped to [-1, 1]: Positive minus Negative.

    Neutral and Mixed confidence pull the score toward 0, as VADER's compound does for
    balanced or flat text; the result is rounded to 4 places like VADER's.
    """
    try:
        positive = float(sentiment_scores["Positive"])
        negative = float(sentiment_scores["Negative"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ComprehendError(f"Comprehend SentimentScore lacks Positive/Negative: {sentiment_scores!r}") from exc
    return round(max(-1.0, min(1.0, positive - negative)), 4)


def cap_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def merge_comprehend_batch(response: Mapping[str, Any], size: int) -> tuple[dict[int, float], dict[int, str]]:
    """Scores by index from a BatchDetectSentiment response, and per-document errors by index."""
    scores: dict[int, float] = {}
    errors: dict[int, str] = {}
    for item in response.get("ResultList", []):
        scores[int(item["Index"])] = comprehend_document_score(item["SentimentScore"])
    for item in response.get("ErrorList", []):
        errors[int(item["Index"])] = f"{item.get('ErrorCode')}: {item.get('ErrorMessage')}"
    missing = set(range(size)) - scores.keys() - errors.keys()
    if missing:
        raise ComprehendError(f"BatchDetectSentiment answered nothing for documents {sorted(missing)}")
    return scores, errors


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _backoff(attempt: int, base: float = 0.2, cap: float = 10.0) -> None:
    # Full jitter: parallel tasks that were throttled together do not retry together.
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))


@dataclass(frozen=True)
class ComprehendScorer:
    """Amazon Comprehend BatchDetectSentiment, 25 comments a call.

    The endpoint travels as values (captured on the driver); per-document internal errors are
    retried with jittered backoff, throttled calls by botocore's adaptive retries.
    """

    endpoint: AwsEndpoint
    language_code: str = "en"
    batch_size: int = COMPREHEND_MAX_BATCH
    max_chars: int = DEFAULT_MAX_CHARS
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= COMPREHEND_MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{COMPREHEND_MAX_BATCH}, got {self.batch_size}")

    def _client(self) -> Any:
        from pipelines.aws.clients import client

        return cached(("comprehend", self.endpoint), lambda: client("comprehend", self.endpoint))

    def score(self, texts: Sequence[str | None]) -> list[float | None]:
        results: list[float | None] = [None] * len(texts)
        todo = [
            (i, cap_utf8(cap_text(t, self.max_chars), COMPREHEND_MAX_BYTES))
            for i, t in enumerate(texts)
            if _has_text(t)
        ]
        for batch in _chunks(todo, self.batch_size):
            for index, value in self._score_batch(batch).items():
                results[index] = value
        return results

    def _score_batch(self, batch: Sequence[tuple[int, str]]) -> dict[int, float]:
        pending = list(batch)
        done: dict[int, float] = {}
        for attempt in range(self.max_attempts):
            response = self._client().batch_detect_sentiment(
                TextList=[text for _, text in pending], LanguageCode=self.language_code
            )
            scores, errors = merge_comprehend_batch(response, len(pending))
            for position, value in scores.items():
                done[pending[position][0]] = value
            if not errors:
                return done
            fatal = {pos: err for pos, err in errors.items() if err.split(":", 1)[0] not in _COMPREHEND_RETRYABLE}
            if fatal:
                raise ComprehendError(f"Comprehend rejected {len(fatal)} comment(s): {sorted(fatal.values())[:3]}")
            pending = [pending[pos] for pos in sorted(errors)]
            _backoff(attempt)
        raise ComprehendError(f"{len(pending)} comment(s) still failing after {self.max_attempts} attempts")


# --- Amazon Bedrock ------------------------------------------------------------------------

_PROMPT = (
    "You rate the sentiment of customer comments about online orders.\n"
    "For each numbered comment below, give one number from -1 (very negative) through 0 "
    "(neutral) to 1 (very positive).\n"
    "Answer with only a JSON array of {count} numbers, in the order of the comments, and "
    "nothing else.\n\n{comments}"
)
_JSON_ARRAY = re.compile(r"\[[^\[\]]*\]", re.DOTALL)


def bedrock_prompt(texts: Sequence[str]) -> str:
    """The batched prompt: comments numbered, each JSON-quoted so quotes and newlines stay inside."""
    lines = "\n".join(f"{n}. {json.dumps(text, ensure_ascii=False)}" for n, text in enumerate(texts, start=1))
    return _PROMPT.format(count=len(texts), comments=lines)


def bedrock_answer_text(body: Mapping[str, Any]) -> str:
    """The text of a model answer: Anthropic Messages (``content``) or Amazon Nova (``output``)."""
    parts = body.get("content")
    if parts is None:
        parts = body.get("output", {}).get("message", {}).get("content")
    texts = [part.get("text", "") for part in parts or [] if isinstance(part, Mapping)]
    if not any(texts):
        raise BedrockAnswerError(f"the model answer has no text content: {json.dumps(body)[:300]}")
    return "".join(texts)


def parse_bedrock_scores(answer: str, count: int) -> list[float]:
    """The ``count`` scores in ``answer`` (a JSON array, possibly wrapped in prose or a code fence)."""
    match = _JSON_ARRAY.search(answer)
    if match is None:
        raise BedrockAnswerError(f"no JSON array in the model answer: {answer[:300]!r}")
    try:
        values = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise BedrockAnswerError(f"the model answer's array is not valid JSON ({exc}): {answer[:300]!r}") from None
    if len(values) != count:
        raise BedrockAnswerError(f"asked for {count} scores, the model answered {len(values)}: {answer[:300]!r}")
    scores: list[float] = []
    for position, value in enumerate(values, start=1):
        if isinstance(value, bool) or not isinstance(value, int | float) or not -1.0 <= value <= 1.0:
            raise BedrockAnswerError(f"score {position} is not a number in [-1, 1]: {value!r}")
        scores.append(round(float(value), 4))
    return scores


@dataclass(frozen=True)
class BedrockScorer:
    """An LLM on Amazon Bedrock (InvokeModel, Anthropic Messages format), many comments per prompt."""

    endpoint: AwsEndpoint
    model_id: str = DEFAULT_BEDROCK_MODEL
    batch_size: int = 20
    max_chars: int = DEFAULT_MAX_CHARS
    max_tokens: int = 1024

    def _client(self) -> Any:
        from pipelines.aws.clients import client

        return cached(("bedrock-runtime", self.endpoint), lambda: client("bedrock-runtime", self.endpoint))

    def request_body(self, texts: Sequence[str]) -> dict[str, Any]:
        """The InvokeModel body for one batch (temperature 0: the same comment scores the same)."""
        return {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [{"role": "user", "content": [{"type": "text", "text": bedrock_prompt(texts)}]}],
        }

    def score(self, texts: Sequence[str | None]) -> list[float | None]:
        results: list[float | None] = [None] * len(texts)
        todo = [(i, cap_text(t, self.max_chars)) for i, t in enumerate(texts) if _has_text(t)]
        for batch in _chunks(todo, self.batch_size):
            batch_texts = [text for _, text in batch]
            response = self._client().invoke_model(
                modelId=self.model_id,
                body=json.dumps(self.request_body(batch_texts)),
                contentType="application/json",
                accept="application/json",
            )
            raw = response["body"].read()
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                raise BedrockAnswerError(f"the model response is not JSON: {raw[:300]!r}") from None
            if not isinstance(body, Mapping):
                raise BedrockAnswerError(f"the model response is not a JSON object: {raw[:300]!r}")
            for (index, _), value in zip(
                batch, parse_bedrock_scores(bedrock_answer_text(body), len(batch)), strict=True
            ):
                results[index] = value
        return results


def scorer_from_settings(settings: SentimentSettings, endpoint: AwsEndpoint | None = None) -> SentimentScorer:
    """The scorer the settings choose; AWS scorers get ``endpoint`` (default: the driver's environment)."""
    if settings.scorer == "vader":
        return VaderScorer(max_chars=settings.max_chars)
    from pipelines.aws.clients import AwsEndpoint

    where = endpoint or AwsEndpoint.from_environment()
    if settings.scorer == "comprehend":
        return ComprehendScorer(
            endpoint=where,
            language_code=settings.language_code,
            batch_size=settings.comprehend_batch_size,
            max_chars=settings.max_chars,
            max_attempts=settings.max_attempts,
        )
    return BedrockScorer(
        endpoint=where,
        model_id=settings.bedrock_model_id,
        batch_size=settings.bedrock_batch_size,
        max_chars=settings.max_chars,
        max_tokens=settings.bedrock_max_tokens,
    )
