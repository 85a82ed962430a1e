"""Caption scores as computed by the coco-caption code (SPEC E2): BLEU-1..4, METEOR, ROUGE-L, CIDEr.

A thin wrapper over pycocoevalcap: its PTBTokenizer, then its Bleu, Meteor, Rouge and Cider scorers,
exactly as `pycocoevalcap.eval.COCOEvalCap` runs them, minus SPICE (it downloads Stanford CoreNLP
at run time and fails offline) and minus every other download.

Java runs the PTB tokenizer and METEOR. Without Java on the PATH:
* METEOR is reported as None, with the reason under the "unavailable" key;
* captions are tokenised in Python by `ptb_tokenizer.python_ptb_tokenize`, which reproduces the
  PTB tokenizer's output (lower-cased, punctuation removed, clitics split) on 99.99% of COCO
  captions; the remaining scores may then differ slightly from coco-caption's, and the
  "unavailable" entry says so. The same fallback is used when the tokenizer's folder is not writable (it writes its temp
  file beside its jar).

Which images are scored: the results' image ids, as coco-caption evaluates the result image ids.
References of images without a result are ignored (they do not lower any score, but CIDEr's
document frequencies come from the references of the scored images only, again as coco-caption).
A result for an image without references is an error.
"""

import contextlib
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import threading
from typing import Hashable, Iterable, Mapping, Optional, Sequence, Union

from s_cnn_rnn import errors
from s_cnn_rnn.metrics.ptb_tokenizer import python_ptb_tokenize

METRIC_KEYS = {
    "Bleu": ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"),
    "METEOR": ("METEOR",),
    "ROUGE_L": ("ROUGE_L",),
    "CIDEr": ("CIDEr",),
}
DEFAULT_METRICS = tuple(METRIC_KEYS)
SCORE_KEYS = tuple(key for keys in METRIC_KEYS.values() for key in keys)
UNAVAILABLE_KEY = "unavailable"

PathLike = Union[str, os.PathLike]
ImageId = Hashable


class CaptionDataError(errors.UserError, ValueError):
    """References or results that cannot be scored (bad file, missing image, duplicate)."""


def find_java() -> Optional[str]:
    """Path of the `java` that pycocoevalcap will run, or None (tests monkeypatch this)."""
    return shutil.which("java")


# --- Tokenisation ---------------------------------------------------------------------------------


def _ptb_tokenize(captions: dict) -> dict:
    """pycocoevalcap's PTBTokenizer over `{key: [caption, ...]}` -> `{key: [tokenised, ...]}`."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    # One caption per line in its temp file: a line break inside a caption would shift every
    # later caption onto the wrong image, so fold all of them (\r, \u2028, ...) into spaces. Blank
    # captions never reach the tokenizer (a trailing blank line would be dropped).
    to_tokenize = {
        key: [{"caption": " ".join(text.splitlines())} for text in texts if text.strip()]
        for key, texts in captions.items()
    }
    tokenized = PTBTokenizer().tokenize({key: value for key, value in to_tokenize.items() if value})
    output = {}
    for key, texts in captions.items():
        pieces = iter(tokenized.get(key, []))
        output[key] = [next(pieces, None) if text.strip() else "" for text in texts]
        if None in output[key]:
            raise RuntimeError(
                "the PTB tokenizer (java) returned fewer lines than it was given; run "
                "`java -version` to check the Java installation"
            )
    return output


def _tokenize(
    references: dict, results: dict, java: Optional[str], python_tokenizer: bool = False
) -> tuple[dict, dict, Optional[str]]:
    """Tokenised `({id: [ref, ...]}, {id: [result]}, note)`; the note says why Python tokenised."""
    from pycocoevalcap.tokenizer import ptbtokenizer

    tokenizer_dir = os.path.dirname(os.path.abspath(ptbtokenizer.__file__))
    if python_tokenizer:
        note = "the Python tokenizer was requested"
    elif java is None:
        note = "java not found on PATH"
    elif not os.access(tokenizer_dir, os.W_OK):
        note = f"the PTB tokenizer writes its temp file in {tokenizer_dir}, which is not writable"
    else:
        # One java run for references and results together (the tokenizer is line by line).
        merged = {("ref", key): texts for key, texts in references.items()}
        merged.update({("res", key): [text] for key, text in results.items()})
        tokenized = _ptb_tokenize(merged)
        return (
            {key: tokenized[("ref", key)] for key in references},
            {key: tokenized[("res", key)] for key in results},
            None,
        )
    note += (
        "; captions were tokenised in Python (python_ptb_tokenize), so scores may differ slightly "
        "from coco-caption's"
    )
    return (
        {key: [python_ptb_tokenize(text) for text in texts] for key, texts in references.items()},
        {key: [python_ptb_tokenize(text)] for key, text in results.items()},
        note,
    )


# --- Scorers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _meteor_scorer():
    """pycocoevalcap's Meteor, whose java process is shut down on exit, error or not."""
    from pycocoevalcap.meteor.meteor import Meteor

    meteor = Meteor()
    process = meteor.meteor_p
    try:
        yield meteor
    except (ValueError, OSError) as error:  # float('') or a broken pipe: java died
        process.kill()
        stderr = process.stderr.read().decode(errors="replace").strip()
        raise RuntimeError(f"METEOR (java) failed: {error}; its stderr: {stderr[-800:]}") from error
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()  # METEOR exits at end of input
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
        # Meteor.compute_score keeps its lock if it raised; a fresh one keeps __del__ from hanging.
        meteor.lock = threading.Lock()


def _run_scorer(group: str, gts: dict, res: dict) -> dict[str, float]:
    """One metric group over tokenised `gts {id: [ref, ...]}` and `res {id: [caption]}`."""
    if group == "Bleu":
        from pycocoevalcap.bleu.bleu import Bleu

        scores, _ = Bleu(4).compute_score(gts, res, verbose=0)  # verbose prints to stdout
        return dict(zip(METRIC_KEYS["Bleu"], scores))
    if group == "METEOR":
        with _meteor_scorer() as meteor:
            score, _ = meteor.compute_score(gts, res)
        return {"METEOR": score}
    if group == "ROUGE_L":
        from pycocoevalcap.rouge.rouge import Rouge

        score, _ = Rouge().compute_score(gts, res)
        return {"ROUGE_L": score}
    from pycocoevalcap.cider.cider import Cider

    score, _ = Cider().compute_score(gts, res)
    return {"CIDEr": score}


def _check_metrics(metrics: Union[str, Iterable[str]]) -> list[str]:
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in metrics:
        if name.upper() == "SPICE":
            raise ValueError(
                "SPICE is not supported: pycocoevalcap's SPICE downloads Stanford CoreNLP at run "
                "time and fails offline"
            )
        if name not in METRIC_KEYS:
            raise ValueError(f"unknown metric {name!r}; choose from {DEFAULT_METRICS}")
    if not metrics:
        raise ValueError(f"no metric requested; choose from {DEFAULT_METRICS}")
    return [name for name in METRIC_KEYS if name in metrics]  # canonical order, no repeats


def _check_inputs(references: Mapping, results: Mapping) -> None:
    if not results:
        raise CaptionDataError("no results to score")
    missing = [image_id for image_id in results if image_id not in references]
    if missing:
        hint = ""
        reference_types = {type(image_id).__name__ for image_id in references}
        result_types = {type(image_id).__name__ for image_id in missing}
        if references and not result_types & reference_types:
            hint = (
                f" (the references' image ids are {sorted(reference_types)}, the results' "
                f"{sorted(result_types)})"
            )
        raise CaptionDataError(
            f"{len(missing)} result image id(s) have no reference captions, e.g. "
            f"{missing[:5]}{hint}; score results against the references of the same split"
        )
    for image_id, caption in results.items():
        if not isinstance(caption, str):
            raise CaptionDataError(
                f"the result for image {image_id!r} is not a string: {caption!r}"
            )
        captions = references[image_id]
        if isinstance(captions, str) or not captions:
            raise CaptionDataError(
                f"the references of image {image_id!r} must be a non-empty list of captions"
            )
        if not all(isinstance(text, str) for text in captions):
            raise CaptionDataError(f"a reference caption of image {image_id!r} is not a string")


def score_captions(
    references: Mapping[ImageId, Sequence[str]],
    results: Mapping[ImageId, str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    python_tokenizer: bool = False,
) -> dict:
    """Corpus-level caption scores of `results` against `references`, as coco-caption computes them.

    Args:
        references: image id -> its reference captions (raw text).
        results: image id -> the one generated caption (raw text). Only these images are scored.
        metrics: any of "Bleu", "METEOR", "ROUGE_L", "CIDEr" ("Bleu" gives Bleu_1..Bleu_4).
        python_tokenizer: tokenise with `python_ptb_tokenize` even where Java is there (no JVM
            start-up: the decoded validation inside training uses it; METEOR still needs Java).

    Returns:
        `{"Bleu_1", ..., "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}` (those requested) as floats;
        a score that could not be computed is None and `"unavailable"` then maps its name (and
        "PTBTokenizer" when Python tokenised instead) to the reason. `"unavailable"` is absent when
        everything ran as in coco-caption.

    Raises:
        CaptionDataError: no results, a result image without references, a non-string caption.
        ValueError: an unknown metric, or SPICE.
        RuntimeError: Java is present but the tokenizer or METEOR failed.
    """
    groups = _check_metrics(metrics)
    _check_inputs(references, results)
    image_ids = list(results)
    java = find_java()
    gts, res, tokenizer_note = _tokenize(
        {image_id: list(references[image_id]) for image_id in image_ids}, dict(results), java, python_tokenizer
    )
    scores: dict = {}
    unavailable: dict[str, str] = {}
    if tokenizer_note:
        unavailable["PTBTokenizer"] = tokenizer_note
    for group in groups:
        if group == "METEOR" and java is None:
            scores["METEOR"] = None
            unavailable["METEOR"] = "METEOR needs Java (the METEOR 1.5 jar); java not found on PATH"
            continue
        scores.update({key: float(value) for key, value in _run_scorer(group, gts, res).items()})
    if unavailable:
        scores[UNAVAILABLE_KEY] = unavailable
    return scores


# --- Files ----------------------------------------------------------------------------------------


def _read_json(path: PathLike, what: str):
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError as error:
        raise CaptionDataError(f"{what} file {path} does not exist") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CaptionDataError(f"{what} file {path} is not readable JSON: {error}") from error


def _check_caption_entry(entry, path, index: int, what: str, list_name: str) -> None:
    if not isinstance(entry, dict) or "image_id" not in entry or "caption" not in entry:
        raise CaptionDataError(
            f"{what} file {path}: {list_name}[{index}] must be an object with 'image_id' and "
            f"'caption', got {str(entry)[:200]}"
        )
    if not isinstance(entry["caption"], str):
        raise CaptionDataError(f"{what} file {path}: {list_name}[{index}] caption is not a string")
    if isinstance(entry["image_id"], bool) or not isinstance(entry["image_id"], (int, str)):
        raise CaptionDataError(f"{what} file {path}: {list_name}[{index}] image_id is not an id")


def load_references(path: PathLike) -> dict[ImageId, list[str]]:
    """COCO caption annotations (`{"annotations": [{"image_id", "caption"}, ...]}`) -> references.

    Args:
        path: the JSON file, optionally gzip-compressed (`.gz`).

    Returns:
        image id -> its captions, in file order.

    Raises:
        CaptionDataError: naming the file, when it is missing, not JSON or not in that format.
    """
    data = _read_json(path, "references")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise CaptionDataError(
            f"references file {path} is not in COCO caption format: expected an object with an "
            "'annotations' list of {'image_id', 'caption'}"
        )
    references: dict[ImageId, list[str]] = {}
    for index, annotation in enumerate(data["annotations"]):
        _check_caption_entry(annotation, path, index, "references", "annotations")
        references.setdefault(annotation["image_id"], []).append(annotation["caption"])
    if not references:
        raise CaptionDataError(f"references file {path} holds no caption annotations")
    return references


def load_results(path: PathLike) -> dict[ImageId, str]:
    """COCO caption-results JSON (`[{"image_id", "caption"}, ...]`) -> image id -> caption.

    Args:
        path: the JSON file, optionally gzip-compressed (`.gz`).

    Returns:
        image id -> its one caption, in file order.

    Raises:
        CaptionDataError: naming the file, when it is missing, not JSON, not a list of
            {image_id, caption}, empty, or has two captions for one image.
    """
    data = _read_json(path, "results")
    if not isinstance(data, list):
        raise CaptionDataError(
            f"results file {path} is not in COCO results format: expected a list of "
            "{'image_id', 'caption'}"
        )
    results: dict[ImageId, str] = {}
    for index, entry in enumerate(data):
        _check_caption_entry(entry, path, index, "results", "results")
        if entry["image_id"] in results:
            raise CaptionDataError(
                f"results file {path}: image {entry['image_id']!r} has more than one caption "
                f"(again at entry {index}); coco-caption scores exactly one caption per image"
            )
        results[entry["image_id"]] = entry["caption"]
    if not results:
        raise CaptionDataError(f"results file {path} holds no results")
    return results
