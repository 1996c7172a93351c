"""Customer comments that are clearly good, clearly bad or neutral.

Comments are built from sentences of one mood, so a comment's sentiment (VADER compound
score: at least 0.05 good, at most -0.05 bad, neutral in between) is the mood it was made
with; the tests check every sentence and many combinations.
"""

from __future__ import annotations

import random
from typing import Literal

Mood = Literal["good", "bad", "neutral"]
MOODS: tuple[Mood, ...] = ("good", "bad", "neutral")

GOOD: tuple[str, ...] = (
    "Great shop, fast checkout as always!",
    "Love this brand, the quality is excellent.",
    "Super easy ordering, thank you!",
    "Happy to order again, great prices.",
    "Excellent service last time, so I am back.",
    "Best store in town, friendly staff.",
    "The app is great and checkout was smooth.",
    "Perfect gift idea, my sister will love it.",
    "Amazing deals this week, thanks!",
    "Wonderful experience every time.",
    "Really pleased with the quick confirmation.",
    "Fantastic selection, found exactly what I wanted.",
    "Nice discount, very happy with it.",
    "Thanks for the great support yesterday!",
)

BAD: tuple[str, ...] = (
    "Checkout was terrible and slow.",
    "Third attempt, the payment page keeps failing. Very frustrating.",
    "Awful experience with your app, it crashed twice.",
    "Prices went up again, really disappointed.",
    "Last order arrived broken and the seller ignored me.",
    "Horrible customer service, nobody answers.",
    "The website is a mess and the search is useless.",
    "Worst checkout ever, I almost gave up.",
    "Angry that my coupon was rejected.",
    "Poor packaging last time, everything was scratched.",
    "Shipping fees are ridiculous.",
    "I hate the new app design.",
)

NEUTRAL: tuple[str, ...] = (
    "Deliver to the back door.",
    "Order for the office.",
    "Ring the bell twice.",
    "Parcel to reception, second floor.",
    "Delivery after 6 pm.",
    "Invoice to the company address.",
    "Same address as the previous order.",
    "Size M, colour blue.",
    "Call before delivery.",
    "Deliver on Saturday if possible.",
    "Buying this for a trip next month.",
    "Second order this week.",
)

RETURN_GOOD: tuple[str, ...] = (
    "Great product, just the wrong size. Easy return, thanks!",
    "Lovely quality but I ordered two by mistake. Happy with the quick refund.",
    "Nice item, simply changed my mind. Excellent return process.",
)

RETURN_BAD: tuple[str, ...] = (
    "The sole came apart after two days. Really disappointed.",
    "Arrived broken and the box was crushed. Terrible.",
    "Not what the pictures showed, cheap and ugly.",
    "Wrong item sent, what a waste of time.",
    "Stopped working after one week. Awful quality.",
    "Package was damaged and one part is missing. Very upset.",
    "Arrived two weeks late, useless for the event I needed it for.",
    "Poor fit and the fabric feels horrible.",
)

RETURN_NEUTRAL: tuple[str, ...] = (
    "Returning one item.",
    "Return via the drop-off point.",
    "Refund to the card used.",
    "Label printed, parcel sent today.",
)

SENTENCES: dict[str, dict[Mood, tuple[str, ...]]] = {
    "order": {"good": GOOD, "bad": BAD, "neutral": NEUTRAL},
    "return": {"good": RETURN_GOOD, "bad": RETURN_BAD, "neutral": RETURN_NEUTRAL},
}


def make_comment(rng: random.Random, mood: Mood, *, long: bool = False, about: str = "order") -> str:
    """A comment of ``mood`` from the ``about`` pool ("order" or "return"); ``long`` joins many sentences."""
    pool = SENTENCES[about][mood]
    count = rng.randint(5, 9) if long else rng.choice((1, 1, 1, 2))
    return " ".join(rng.choice(pool) for _ in range(count))
