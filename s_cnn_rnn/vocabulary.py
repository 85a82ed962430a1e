"""Vocabulary files: `token<TAB>count` per line, line number = id, UTF-8.

The four files a converted dataset carries (`vocab/{words,concepts,labels,tags}.txt`, see
`s_cnn_rnn.record_schema`) are each one `Vocabulary`; `Vocabularies` bundles them. Counts are
the TRAIN-split counts the builder ranked by (`data_prep.vocab_builder`); they are kept for
inspection and never change an id. This module has no TensorFlow code: it runs in the
converter's worker processes as well as in the model.
"""

import dataclasses
import hashlib
import os
import pathlib
from collections.abc import Iterable, Sequence

from s_cnn_rnn import atomic_files
from s_cnn_rnn import errors
from s_cnn_rnn import record_schema

_FIX_HINT = "re-run s-cnn-rnn-convert to rebuild the vocabulary files"


class VocabularyFileError(errors.UserError, ValueError):
    """A vocabulary file that cannot be read; the message names the file and line."""


class Vocabulary:
    """An ordered token list (position = id) with each token's train count.

    Attributes:
      tokens: the tokens, id order.
      counts: the train counts, aligned with `tokens`.
    """

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None):
        """Builds a vocabulary.

        Args:
          tokens: distinct, non-empty tokens without tab, newline or carriage return.
          counts: non-negative counts aligned with `tokens`; all 0 when omitted.

        Raises:
          ValueError: a duplicate or unwritable token, or counts that do not match.
        """
        tokens = [str(token) for token in tokens]
        counts = [0] * len(tokens) if counts is None else [int(count) for count in counts]
        if len(counts) != len(tokens):
            raise ValueError(f"{len(tokens)} tokens but {len(counts)} counts")
        index: dict[str, int] = {}
        for position, (token, count) in enumerate(zip(tokens, counts)):
            if not token or any(char in token for char in "\t\n\r"):
                raise ValueError(f"token {position} {token!r} is empty or holds a tab/newline")
            if count < 0:
                raise ValueError(f"token {token!r} has a negative count {count}")
            if token in index:
                raise ValueError(f"duplicate token {token!r} at ids {index[token]} and {position}")
            index[token] = position
        self._tokens = tokens
        self._counts = counts
        self._index = index
        self._unk_id = index.get(record_schema.UNK_TOKEN)
        self._end_id = index.get(record_schema.END_TOKEN)
        # Control tokens decode() drops; `<unk>` is a real prediction and is kept.
        self._control_ids = frozenset(
            index[token] for token in record_schema.LABEL_SPECIALS if token in index
        )

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    @property
    def counts(self) -> list[int]:
        return list(self._counts)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens and self._counts == other._counts

    def __repr__(self) -> str:
        head = ", ".join(self._tokens[:5])
        return f"Vocabulary({len(self)} tokens: {head}{', ...' if len(self) > 5 else ''})"

    def id_of(self, token: str) -> int:
        """Returns the id of `token`; `<unk>`'s id for an unknown token if there is one.

        Raises:
          KeyError: unknown token and the vocabulary has no `<unk>`.
        """
        token_id = self._index.get(token)
        if token_id is not None:
            return token_id
        if self._unk_id is not None:
            return self._unk_id
        raise KeyError(
            f"token {token!r} is not in this vocabulary of {len(self)} tokens "
            f"(it has no {record_schema.UNK_TOKEN} to fall back on)"
        )

    def token_of(self, token_id: int) -> str:
        """Returns the token with id `token_id`.

        Raises:
          IndexError: `token_id` outside [0, len).
        """
        token_id = int(token_id)
        if not 0 <= token_id < len(self._tokens):
            raise IndexError(f"id {token_id} is outside this vocabulary's [0, {len(self)})")
        return self._tokens[token_id]

    def encode(self, words: Iterable[str]) -> list[int]:
        """Maps tokens to ids (unknown -> `<unk>`, or KeyError without one)."""
        return [self.id_of(word) for word in words]

    def decode(
        self, ids: Iterable[int], stop_at_end: bool = True, skip_specials: bool = True
    ) -> list[str]:
        """Maps ids back to tokens.

        Args:
          ids: token ids, e.g. one row of a decoder's output `[T]`.
          stop_at_end: stop at the first `<end>` (not included).
          skip_specials: drop `<pad>`, `<start>` and `<end>`. `<unk>` is kept: it is
            what the model predicted, and hiding it would flatter the output.

        Returns:
          The tokens.
        """
        decoded = []
        for token_id in ids:
            token_id = int(token_id)
            if stop_at_end and token_id == self._end_id:
                break
            if skip_specials and token_id in self._control_ids:
                continue
            decoded.append(self.token_of(token_id))
        return decoded

    def fingerprint(self) -> str:
        """Returns the sha256 hex digest of the tokens in id order (counts excluded).

        Two vocabularies with the same fingerprint give every token the same id, so a
        model can be checked against the data it is run on.
        """
        digest = hashlib.sha256()
        for token in self._tokens:
            digest.update(token.encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        """Writes `token<TAB>count` lines atomically (temp file, then os.replace)."""
        text = "".join(f"{token}\t{count}\n" for token, count in zip(self._tokens, self._counts))
        atomic_files.write_text(os.fspath(path), text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Reads a file written by `save`.

        Raises:
          FileNotFoundError: no such file.
          VocabularyFileError: a malformed line, a bad count, a duplicate token or bad UTF-8.
        """
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist: {_FIX_HINT}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise VocabularyFileError(f"{path} is not valid UTF-8 ({error}): {_FIX_HINT}") from error
        tokens, counts, first_line = [], [], {}
        # Split on "\n" only: str.splitlines() would also split inside tokens holding
        # U+0085 or U+2028. A trailing "\r" (a file re-saved with CRLF) is tolerated.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for line_number, line in enumerate(lines, start=1):
            fields = line.removesuffix("\r").split("\t")
            if len(fields) != 2 or not fields[0]:
                raise VocabularyFileError(
                    f"{path}:{line_number}: expected 'token<TAB>count', got {line!r}: {_FIX_HINT}"
                )
            token, count_text = fields
            if not (count_text.isascii() and count_text.isdigit()):
                raise VocabularyFileError(
                    f"{path}:{line_number}: count {count_text!r} of {token!r} is not a "
                    f"non-negative integer: {_FIX_HINT}"
                )
            if token in first_line:
                raise VocabularyFileError(
                    f"{path}:{line_number}: duplicate token {token!r} (first on line "
                    f"{first_line[token]}): {_FIX_HINT}"
                )
            first_line[token] = line_number
            tokens.append(token)
            counts.append(int(count_text))
        return cls(tokens, counts)


@dataclasses.dataclass
class Vocabularies:
    """The four vocabularies of one converted dataset.

    Attributes:
      words: caption words, `<pad> <start> <end> <unk>` first.
      concepts: the k caption-concept words (captioning's semantic targets).
      labels: ground-truth labels, rare-first; empty for caption datasets.
      tags: noisy user tags (side information); empty when the dataset has none.
    """

    words: Vocabulary
    concepts: Vocabulary
    labels: Vocabulary
    tags: Vocabulary

    _FILES = {
        "words": record_schema.WORDS_FILE,
        "concepts": record_schema.CONCEPTS_FILE,
        "labels": record_schema.LABELS_FILE,
        "tags": record_schema.TAGS_FILE,
    }

    @classmethod
    def load(cls, data_dir: str | os.PathLike) -> "Vocabularies":
        """Reads `data_dir/vocab/{words,concepts,labels,tags}.txt`."""
        data_dir = pathlib.Path(data_dir)
        return cls(**{name: Vocabulary.load(data_dir / file) for name, file in cls._FILES.items()})

    def save(self, data_dir: str | os.PathLike) -> None:
        """Writes the four files under `data_dir/vocab/`, each atomically."""
        data_dir = pathlib.Path(data_dir)
        for name, file in self._FILES.items():
            getattr(self, name).save(data_dir / file)

    def fingerprints(self) -> dict[str, str]:
        """Returns {"words"|"concepts"|"labels"|"tags": sha256 hex of that token list}."""
        return {name: getattr(self, name).fingerprint() for name in self._FILES}

    def label_sequence_vocabulary(self) -> Vocabulary:
        """Returns the multi-label decoder's token space: `<pad> <start> <end>` + labels.

        Label index i is token i + len(LABEL_SPECIALS) = i + 3.
        """
        specials = list(record_schema.LABEL_SPECIALS)
        return Vocabulary(specials + self.labels.tokens, [0] * len(specials) + self.labels.counts)
