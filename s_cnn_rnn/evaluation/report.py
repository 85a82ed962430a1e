"""A page of images with ground truth and predictions side by side (the supplementary figures).

Multi-label (supplementary Fig. 1): the ground truth in rare-first order, the model's concept
layer read as a classifier (its top-3, by score) and the decoded labels in the order the RNN
emitted them, right ones green and wrong ones red. Captions (supplementary Figs. 2, 3): the
reference captions, the best beam and the concept layer's most probable concepts with their
probabilities, leaving out the function words of `STOP_WORDS` (which every caption has, so
the CNN's "top 3" would otherwise read "a, the, in" for every image). Each image is an anchor
`#image-<id>` and names its line (and `image_id`) in predictions.jsonl. The HTML page embeds the JPEGs as base64 data URIs, so
it is one self-contained file; a PNG grid of the same panels is written beside it.
"""

import base64
import dataclasses
import html
import io
import math
import os
import textwrap
from collections.abc import Callable

from s_cnn_rnn import atomic_files
from s_cnn_rnn.evaluation import references as references_lib
from s_cnn_rnn.evaluation import runner

# The commonest English function words, left out of the concepts the caption report lists (see
# above; the one place this list lives, predictions.jsonl keeps every concept).
STOP_WORDS = ("a", "an", "the", "of", "in", "on", "at", "to", "with", "and", "is", "are", "it", "its", "for",
              "by", "from", "that", "this", "there", "some")
# Concepts listed per image in the caption report.
REPORT_CONCEPTS = 5

_CSS = """
body { font-family: sans-serif; margin: 1.5em; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1em; }
figure { margin: 0; border: 1px solid #ddd; padding: 0.5em; }
figure img { width: 100%; image-rendering: pixelated; }
dt { font-weight: bold; margin-top: 0.4em; }
dd { margin-left: 0.5em; }
.hit { color: #1a7f37; } .miss { color: #cf222e; } .missing { color: #888; }
"""


def _caption_panels(summary: dict, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """Reference captions, the best beam, and the concept layer's most probable concepts with their
    probabilities, function words (`STOP_WORDS`) left out (supplementary Figs. 2, 3)."""
    sections = [("Ground truth", [(text, "") for text in entry["references"]] or [("(none)", "missing")]),
                (f"Prediction (beam {summary['decoding']['beam_width']})", [(entry["caption"], "")])]
    if entry.get("concepts"):
        shown = [(concept, score) for concept, score in zip(entry["concepts"], entry["concept_scores"])
                 if concept not in STOP_WORDS][:REPORT_CONCEPTS]
        sections.append((f"Concept layer, top {len(shown)} without function words",
                         [(", ".join(f"{concept} {score:.2f}" for concept, score in shown) or "(none)", "")]))
    return sections


def _multilabel_panels(summary: dict, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """Ground truth rare-first, the concept layer's top 3 and the decoded labels, right ones
    marked "hit" and wrong ones "miss" (supplementary Fig. 1)."""
    truth = set(entry["ground_truth"])

    def marked(labels):
        return [(label, "hit" if label in truth else "miss") for label in labels]

    truth_items = [(label, "") for label in entry["ground_truth"]] or [("(none)", "missing")]
    sections = [("Ground truth (rare first)", truth_items)]
    if "concept_labels" in entry:
        heading = f"Concept layer (top {len(entry['concept_labels'])}, by score)"
        sections.append((heading, marked(entry["concept_labels"])))
    if "decoded" in summary.get("rows", {}):
        sections.append((f"{summary['model_name']} (emitted order)",
                         marked(entry["labels"]) or [("(no label)", "missing")]))
    return sections


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How a task's images are laid out.

    Attributes:
      panels: (metrics.json payload, predictions.jsonl entry) -> the image's sections,
        [(heading, [(text, css class), ...]), ...].
      joiners: (HTML, text) separators between one section's items.
      note: an HTML paragraph explaining the panels ("" for none).
    """

    panels: Callable[[dict, dict], list[tuple[str, list[tuple[str, str]]]]]
    joiners: tuple[str, str]
    note: str = ""


# Task name -> its layout.
LAYOUTS = {
    "caption": _Layout(_caption_panels, ("<br>", " | "), note=(
        f"<p>Concepts: the concept layer's {REPORT_CONCEPTS} most probable, with their probabilities, "
        f"leaving out the function words {html.escape(', '.join(STOP_WORDS))}.</p>\n")),
    "multilabel": _Layout(_multilabel_panels, (", ", ", ")),
}


def _panels(result: runner.EvaluationResult, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """One image's sections: [(heading, [(text, css class), ...]), ...], as the task lays them out."""
    return LAYOUTS[result.task].panels(result.summary, entry)


def _html_page(result: runner.EvaluationResult, entries: list, jpegs: dict, predictions_link: str | None) -> str:
    summary = result.summary
    title = f"{summary['model_name']} on {summary['split']}: {len(entries)} of {summary['num_images']} images"
    figures = []
    for line, entry in enumerate(entries, start=1):  # entries are the first lines of predictions.jsonl
        jpeg = jpegs.get(entry["image_id"])
        image = (f'<img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode("ascii")}" '
                 f'alt="image {entry["image_id"]}">' if jpeg else '<p class="missing">(no image stored)</p>')
        sections = []
        for heading, items in _panels(result, entry):
            joiner = LAYOUTS[result.task].joiners[0]
            body = joiner.join(f'<span class="{css}">{html.escape(text)}</span>' for text, css in items)
            sections.append(f"<dt>{html.escape(heading)}</dt><dd>{body}</dd>")
        image_id = entry["image_id"]
        source = (f' &middot; <a href="{html.escape(predictions_link)}">predictions.jsonl</a> line {line}, '
                  f'"image_id": {image_id}') if predictions_link else ""
        figures.append(f'<figure class="item" id="image-{image_id}" data-image-id="{image_id}">{image}<figcaption>'
                       f'<b><a href="#image-{image_id}">image {image_id}</a></b>{source}'
                       f'<dl>{"".join(sections)}</dl></figcaption></figure>')
    note = LAYOUTS[result.task].note
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>Model: {html.escape(summary['model_dir'])}<br>Data: {html.escape(summary['data_dir'])}</p>\n"
        f"<pre>{html.escape(result.table)}</pre>\n{note}<div class=\"grid\">\n" + "\n".join(figures)
        + "\n</div></body></html>\n"
    )


def _png_grid(result: runner.EvaluationResult, entries: list, jpegs: dict, path: str) -> None:
    """The same panels as a matplotlib grid: image above, its text below (no colours)."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    from PIL import Image  # pylint: disable=import-outside-toplevel

    columns = min(4, len(entries))
    rows = math.ceil(len(entries) / columns)
    figure, axes = pyplot.subplots(rows * 2, columns, figsize=(3.6 * columns, 5.4 * rows), squeeze=False,
                                   gridspec_kw={"height_ratios": [3, 2] * rows})
    for axis in axes.flat:
        axis.axis("off")
    for index, entry in enumerate(entries):
        image_axis = axes[2 * (index // columns), index % columns]
        text_axis = axes[2 * (index // columns) + 1, index % columns]
        jpeg = jpegs.get(entry["image_id"])
        if jpeg:
            image_axis.imshow(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        image_axis.set_title(f"image {entry['image_id']}", fontsize=9)
        lines = []
        for heading, items in _panels(result, entry):
            text = LAYOUTS[result.task].joiners[1].join(item for item, _ in items)
            lines.append(textwrap.fill(f"{heading}: {text}", width=44, max_lines=4, placeholder=" ..."))
        text_axis.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=7, transform=text_axis.transAxes)
    figure.tight_layout()
    try:
        with atomic_files.replacing(path) as temporary:
            figure.savefig(temporary, format="png", dpi=100)
    finally:
        pyplot.close(figure)


def write_report(result: runner.EvaluationResult, data_dir: str, html_path: str, num_images: int = 12,
                 png_path: str | None = None, predictions_path: str | None = None) -> dict[str, str]:
    """Writes the HTML page and the PNG grid of the first `num_images` evaluated images.

    Args:
      result: what `runner.evaluate` returned.
      data_dir: the data it evaluated (the JPEGs are read from its records).
      html_path: the page to write (atomically); its folder is created.
      num_images: images shown (at most the number evaluated).
      png_path: the grid; default `html_path` with a .png suffix.
      predictions_path: the predictions.jsonl written by `runner.write_outputs`: each image
        links to it (relative to the page) with its line and image_id.

    Returns:
      {"html": path, "png": path}.
    """
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    if not result.predictions:
        raise ValueError("the evaluation has no predictions to show")
    png_path = png_path or os.path.splitext(html_path)[0] + ".png"
    entries = result.predictions[:num_images]
    jpegs = references_lib.read_encoded_images(data_dir, result.split, [entry["image_id"] for entry in entries])
    link = None
    if predictions_path:
        link = os.path.relpath(os.path.abspath(predictions_path), os.path.dirname(os.path.abspath(html_path)))
    atomic_files.write_text(html_path, _html_page(result, entries, jpegs, link))
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    _png_grid(result, entries, jpegs, png_path)
    return {"html": html_path, "png": png_path}
