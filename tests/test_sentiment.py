"""Scorers and the label rule: VADER exactly as plain VADER, the AWS scorers' mapping and answer parsing."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipelines.aws.clients import AwsEndpoint
from pipelines.local_services import MotoServer
from pipelines.sentiment import (
    BedrockAnswerError,
    BedrockScorer,
    ComprehendError,
    ComprehendScorer,
    SentimentScorer,
    VaderScorer,
    bedrock_answer_text,
    bedrock_prompt,
    cap_text,
    cap_utf8,
    comprehend_document_score,
    label_for,
    merge_comprehend_batch,
    parse_bedrock_scores,
    scorer_from_settings,
    vader_analyzer,
    vader_score,
)
from pipelines.settings import Settings, SettingsError, load_settings

SAMPLE_COMMENTS = [
    "Fast checkout, hope the shoes fit as well as last time!",
    "The sole came apart after two days. Really disappointed.",
    "Delivery was ok.",
    "NOT happy at all!!! Box crushed :(",
    "Great value, but the colour is a bit off",
    "I love it 😍",
    "kind of meh tbh",
    "The package arrived on Tuesday.",
    "Worst purchase ever, never again",
    "not bad",
]
# A UDF-free reference: a fresh analyzer, not the cached one the scorers use.
PLAIN = SentimentIntensityAnalyzer()


def contract_comments(contract_dir: Path) -> list[str]:
    comments = []
    for name in ("new_order.json", "return_order.json"):
        event = json.loads((contract_dir / "examples" / name).read_text(encoding="utf-8"))
        comments.append(event["comment"])
    return comments


def test_score_of_exactly_0_05_is_good() -> None:
    assert label_for(0.05) == "Good"


def test_score_of_exactly_minus_0_05_is_bad() -> None:
    assert label_for(-0.05) == "Bad"


@pytest.mark.parametrize("score", [0.0499, -0.0499, 0.0])
def test_scores_strictly_between_the_thresholds_are_neutral(score: float) -> None:
    assert label_for(score) == "Neutral"


@pytest.mark.parametrize(("score", "label"), [(1.0, "Good"), (0.0501, "Good"), (-0.0501, "Bad"), (-1.0, "Bad")])
def test_scores_beyond_the_thresholds_are_good_or_bad(score: float, label: str) -> None:
    assert label_for(score) == label


@pytest.mark.parametrize("score", [None, float("nan")])
def test_a_missing_score_has_no_label(score: float | None) -> None:
    assert label_for(score) is None


def test_vader_scorer_gives_plain_vader_compound_on_sample_and_contract_comments(contract_dir: Path) -> None:
    comments = SAMPLE_COMMENTS + contract_comments(contract_dir)
    expected = [PLAIN.polarity_scores(text)["compound"] for text in comments]
    assert VaderScorer().score(comments) == expected
    assert [vader_score(text) for text in comments] == expected


def test_contract_example_comments_are_labelled_good_and_bad(contract_dir: Path) -> None:
    new_order, return_order = VaderScorer().score(contract_comments(contract_dir))
    assert (label_for(new_order), label_for(return_order)) == ("Good", "Bad")


@pytest.mark.parametrize("text", [None, "", " ", "\n\t  "])
def test_missing_empty_and_blank_comments_score_null(text: str | None) -> None:
    assert VaderScorer().score([text]) == [None]
    assert vader_score(text) is None


def test_a_comment_without_sentiment_words_scores_zero_not_null() -> None:
    assert VaderScorer().score(["The package arrived on Tuesday."]) == [0.0]


def test_text_beyond_max_chars_is_not_scored() -> None:
    praise = "The jacket is great. " * 10  # 210 characters
    text = praise + "It is the worst, horrible, awful, terrible thing. " * 20
    capped = VaderScorer(max_chars=len(praise)).score([text])[0]
    assert capped == PLAIN.polarity_scores(praise.rstrip())["compound"]
    assert capped is not None
    assert capped > 0.9
    assert VaderScorer(max_chars=10_000).score([text])[0] == PLAIN.polarity_scores(text)["compound"] < 0


def test_capping_drops_a_word_cut_in_half() -> None:
    assert cap_text("good terrible", 7) == "good"
    assert cap_text("good terrible", 5) == "good "
    assert cap_text("good terrible", 100) == "good terrible"
    assert cap_text("unbreakable", 4) == "unbr"


def test_max_chars_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        VaderScorer(max_chars=0)


def test_the_vader_analyzer_is_built_once_per_process() -> None:
    assert vader_analyzer() is vader_analyzer()


def test_scorers_survive_pickling_as_equal_hashable_values() -> None:
    endpoint = AwsEndpoint(region="eu-west-1", endpoint_url="http://127.0.0.1:1")
    for scorer in (VaderScorer(max_chars=500), ComprehendScorer(endpoint), BedrockScorer(endpoint)):
        copy = pickle.loads(pickle.dumps(scorer))
        assert copy == scorer
        assert hash(copy) == hash(scorer)
        assert isinstance(copy, SentimentScorer)


def test_settings_choose_the_scorer_and_its_limits() -> None:
    endpoint = AwsEndpoint(region="eu-west-1")
    settings = Settings().with_overrides(["sentiment.max_chars=300"])
    assert scorer_from_settings(settings.sentiment) == VaderScorer(max_chars=300)
    comprehend = settings.with_overrides(["sentiment.scorer=comprehend", "sentiment.language_code=de"])
    assert scorer_from_settings(comprehend.sentiment, endpoint) == ComprehendScorer(
        endpoint, language_code="de", max_chars=300
    )
    bedrock = settings.with_overrides(["sentiment.scorer=bedrock", "sentiment.bedrock_model_id=amazon.nova-lite-v1:0"])
    chosen = scorer_from_settings(bedrock.sentiment, endpoint)
    assert isinstance(chosen, BedrockScorer)
    assert chosen.model_id == "amazon.nova-lite-v1:0"


def test_the_local_settings_file_uses_vader() -> None:
    conf = Path(__file__).resolve().parents[1] / "conf" / "local.yaml"
    assert load_settings(conf).sentiment.scorer == "vader"


def test_an_unknown_scorer_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"sentiment\.scorer"):
        Settings().with_overrides(["sentiment.scorer=textblob"])


# --- Comprehend: moto's server has DetectSentiment but not BatchDetectSentiment, so the mapping
# and the batch bookkeeping are tested as the pure functions the scorer is built from.


def test_comprehend_score_is_positive_minus_negative() -> None:
    assert comprehend_document_score({"Positive": 0.9, "Negative": 0.05, "Neutral": 0.04, "Mixed": 0.01}) == 0.85
    assert comprehend_document_score({"Positive": 0.0, "Negative": 1.0, "Neutral": 0.0, "Mixed": 0.0}) == -1.0
    assert label_for(comprehend_document_score({"Positive": 0.3, "Negative": 0.3, "Neutral": 0.0, "Mixed": 0.4})) == (
        "Neutral"
    )


def test_a_comprehend_score_without_positive_is_a_clear_error() -> None:
    with pytest.raises(ComprehendError, match="Positive"):
        comprehend_document_score({"Negative": 0.2})


def test_comprehend_batch_results_and_errors_are_kept_by_index() -> None:
    response = {
        "ResultList": [
            {"Index": 2, "Sentiment": "NEGATIVE", "SentimentScore": {"Positive": 0.1, "Negative": 0.7}},
            {"Index": 0, "Sentiment": "POSITIVE", "SentimentScore": {"Positive": 0.8, "Negative": 0.1}},
        ],
        "ErrorList": [{"Index": 1, "ErrorCode": "INTERNAL_SERVER_ERROR", "ErrorMessage": "try again"}],
    }
    scores, errors = merge_comprehend_batch(response, 3)
    assert scores == {0: 0.7, 2: -0.6}
    assert errors == {1: "INTERNAL_SERVER_ERROR: try again"}


def test_a_comprehend_batch_answer_missing_documents_is_an_error() -> None:
    response = {"ResultList": [{"Index": 0, "SentimentScore": {"Positive": 1.0, "Negative": 0.0}}], "ErrorList": []}
    with pytest.raises(ComprehendError, match=r"\[1, 2\]"):
        merge_comprehend_batch(response, 3)


def test_utf8_capping_never_splits_a_character() -> None:
    text = "é" * 10  # 20 bytes
    assert cap_utf8(text, 5) == "éé"
    assert cap_utf8(text, 20) == text


def test_comprehend_batches_are_at_most_25_comments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        ComprehendScorer(AwsEndpoint(region="us-east-1"), batch_size=26)


# --- Bedrock


def test_the_bedrock_prompt_numbers_each_comment_as_a_json_string() -> None:
    prompt = bedrock_prompt(['Great "value"', "line one\nline two"])
    assert '1. "Great \\"value\\""' in prompt
    assert '2. "line one\\nline two"' in prompt
    assert "JSON array of 2 numbers" in prompt


def test_bedrock_scores_are_read_from_an_array_inside_prose_or_a_code_fence() -> None:
    assert parse_bedrock_scores("Here you go:\n```json\n[0.8, -0.5, 0]\n```", 3) == [0.8, -0.5, 0.0]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("I cannot rate these.", "no JSON array"),
        ("[0.5, 0.1]", "asked for 3 scores"),
        ("[0.5, 1.5, 0]", "score 2 is not a number in"),
        ('[0.5, "good", 0]', "score 2 is not a number in"),
        ("[0.5, true, 0]", "score 2 is not a number in"),
        ("[0.5, 0.1, .3]", "not valid JSON"),
    ],
)
def test_a_bedrock_answer_that_is_not_the_asked_array_is_a_clear_error(answer: str, message: str) -> None:
    with pytest.raises(BedrockAnswerError, match=message):
        parse_bedrock_scores(answer, 3)


def test_bedrock_answer_text_reads_anthropic_and_nova_bodies() -> None:
    assert bedrock_answer_text({"content": [{"type": "text", "text": "[0.1]"}]}) == "[0.1]"
    assert bedrock_answer_text({"output": {"message": {"content": [{"text": "[0.2]"}]}}}) == "[0.2]"
    with pytest.raises(BedrockAnswerError, match="no text content"):
        bedrock_answer_text({})


def test_bedrock_scorer_sends_nothing_when_no_comment_has_text() -> None:
    # Nothing listens on port 9: a call would fail, so passing shows no call was made.
    scorer = BedrockScorer(AwsEndpoint(region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    assert scorer.score([None, "", "  "]) == [None, None, None]


def test_bedrock_scorer_reports_an_answer_without_scores_from_a_real_endpoint(moto_server: MotoServer) -> None:
    # moto's InvokeModel answers every request with an empty JSON object.
    scorer = BedrockScorer(AwsEndpoint(region="us-east-1", endpoint_url=moto_server.endpoint_url), batch_size=2)
    with pytest.raises(BedrockAnswerError, match="no text content"):
        scorer.score(["Great shoes", None, "Awful box"])
