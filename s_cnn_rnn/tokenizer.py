"""The one tokeniser used for caption words and concepts alike.

Lower-cases the text and keeps maximal runs of ASCII letters and digits, so punctuation,
apostrophes and hyphens split words ("man's" -> ["man", "s"], "t-shirt" -> ["t", "shirt"])
and non-ASCII letters are dropped ("café" -> ["caf"]). The same function must build the
vocabularies and encode the captions, otherwise ids silently disagree.
"""

import re

_WORD_PATTERN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Splits a caption into lower-case word tokens.

    Args:
      text: a caption as written in the source.

    Returns:
      The tokens in order; empty when the text holds no ASCII letter or digit.
    """
    return _WORD_PATTERN.findall(text.lower())
