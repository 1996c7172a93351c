from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipelines.simulator.comments import MOODS, SENTENCES, Mood, make_comment

ANALYZER = SentimentIntensityAnalyzer()


def _label(text: str) -> Mood:
    compound = ANALYZER.polarity_scores(text)["compound"]
    if compound >= 0.05:
        return "good"
    if compound <= -0.05:
        return "bad"
    return "neutral"


@pytest.mark.parametrize("about", sorted(SENTENCES))
@pytest.mark.parametrize("mood", MOODS)
def test_every_sentence_scores_as_its_mood(about: str, mood: Mood) -> None:
    wrong = [sentence for sentence in SENTENCES[about][mood] if _label(sentence) != mood]
    assert wrong == []


@pytest.mark.parametrize("about", sorted(SENTENCES))
@pytest.mark.parametrize("mood", MOODS)
def test_combined_and_long_comments_keep_their_mood(about: str, mood: Mood) -> None:
    rng = random.Random(11)
    comments = [make_comment(rng, mood, long=index % 4 == 0, about=about) for index in range(400)]
    wrong = [comment for comment in comments if _label(comment) != mood]
    assert wrong == []
