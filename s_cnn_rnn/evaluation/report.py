"""A page of images with ground truth and predictions side by side (the supplementary figures).

Multi-label (supplementary Fig. 1): the ground truth in rare-first order, the model's concept
layer read as a classifier (its top-3, by score) and the decoded labels in the order the RNN
emitted them, right ones green and wrong ones red. Captions (supplementary Figs. 2, 3): the
reference captions and the best beam. The HTML page embeds the JPEGs as base64 data URIs, so
it is one self-contained file; a PNG grid of the same panels is written beside it.
"""

import base64
import html
import io
import math
import os
import textwrap

from s_cnn_rnn import atomic_files
from s_cnn_rnn import tasks
from s_cnn_rnn.evaluation import references as references_lib
from s_cnn_rnn.evaluation import runner

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


def _panels(result: runner.EvaluationResult, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """One image's sections: [(heading, [(text, css class), ...]), ...], as the task lays them out."""
    return tasks.get(result.task).report_panels(result.summary, entry)


def _html_page(result: runner.EvaluationResult, entries: list, jpegs: dict) -> str:
    summary = result.summary
    title = f"{summary['model_name']} on {summary['split']}: {len(entries)} of {summary['num_images']} images"
    figures = []
    for entry in entries:
        jpeg = jpegs.get(entry["image_id"])
        image = (f'<img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode("ascii")}" '
                 f'alt="image {entry["image_id"]}">' if jpeg else '<p class="missing">(no image stored)</p>')
        sections = []
        for heading, items in _panels(result, entry):
            joiner = tasks.get(result.task).report_joiners[0]
            body = joiner.join(f'<span class="{css}">{html.escape(text)}</span>' for text, css in items)
            sections.append(f"<dt>{html.escape(heading)}</dt><dd>{body}</dd>")
        figures.append(f'<figure class="item" data-image-id="{entry["image_id"]}">{image}<figcaption>'
                       f'<b>image {entry["image_id"]}</b><dl>{"".join(sections)}</dl></figcaption></figure>')
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>Model: {html.escape(summary['model_dir'])}<br>Data: {html.escape(summary['data_dir'])}</p>\n"
        f"<pre>{html.escape(result.table)}</pre>\n<div class=\"grid\">\n" + "\n".join(figures)
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
            text = tasks.get(result.task).report_joiners[1].join(item for item, _ in items)
            lines.append(textwrap.fill(f"{heading}: {text}", width=44, max_lines=4, placeholder=" ..."))
        text_axis.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=7, transform=text_axis.transAxes)
    figure.tight_layout()
    try:
        with atomic_files.replacing(path) as temporary:
            figure.savefig(temporary, format="png", dpi=100)
    finally:
        pyplot.close(figure)


def write_report(result: runner.EvaluationResult, data_dir: str, html_path: str, num_images: int = 12,
                 png_path: str | None = None) -> dict[str, str]:
    """Writes the HTML page and the PNG grid of the first `num_images` evaluated images.

    Args:
      result: what `runner.evaluate` returned.
      data_dir: the data it evaluated (the JPEGs are read from its records).
      html_path: the page to write (atomically); its folder is created.
      num_images: images shown (at most the number evaluated).
      png_path: the grid; default `html_path` with a .png suffix.

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
    atomic_files.write_text(html_path, _html_page(result, entries, jpegs))
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    _png_grid(result, entries, jpegs, png_path)
    return {"html": html_path, "png": png_path}
