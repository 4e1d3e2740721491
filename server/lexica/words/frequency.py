"""How common a word is in English: the Zipf frequency (0 to 8: log10 of uses per billion words) from wordfreq's small
English list (about 29,000 words, what people actually write; 4 MB in memory, loaded once). A headword outside the
list — rare, archaic, or several words — counts as 0: the list ranks the common words, not the rest.
"""

from __future__ import annotations

import math
from functools import cache

MAX_ZIPF = 8.0  # a Zipf frequency of 8 is once every ten words ("the" is 7.7)


@cache
def common_words() -> dict[str, float]:
    """Word -> its Zipf frequency, for every word of the list."""
    # Imported here: the import costs ~6 MB and a tenth of a second, spent when the first index is built.
    import wordfreq

    return {word: math.log10(share) + 9 for word, share in wordfreq.get_frequency_dict("en", "small").items()}


def commonness(key: str) -> float:
    """0..1: how common the word is (its Zipf frequency over `MAX_ZIPF`); 0 outside the list."""
    return min(common_words().get(key, 0.0) / MAX_ZIPF, 1.0)
