"""The one tokeniser used for caption words and concepts alike.

Normalises the text to Unicode NFC (so "café" typed with a combining accent is the same word
as the precomposed one), lower-cases it and keeps maximal runs of Unicode letters and digits:
punctuation, apostrophes, hyphens, underscores and spaces split words ("man's" -> ["man", "s"],
"t-shirt" -> ["t", "shirt"]), accented and non-Latin letters are kept ("Café" -> ["café"],
"Straße" -> ["straße"]). The same function must build the vocabularies and encode the
captions, otherwise ids silently disagree.
"""

import re
import unicodedata

# A letter or digit of any script: a word character that is not "_".
_WORD_PATTERN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Splits a caption into lower-case word tokens.

    Args:
      text: a caption as written in the source.

    Returns:
      The tokens in order; empty when the text holds no letter or digit.
    """
    return _WORD_PATTERN.findall(unicodedata.normalize("NFC", text).lower())
