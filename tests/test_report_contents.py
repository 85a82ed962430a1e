"""What the evaluation report tells a reader: concepts without function words, with their
probabilities, and every image linked to its line in predictions.jsonl."""

import json
import os
import re

from s_cnn_rnn.evaluation import report
from s_cnn_rnn.evaluation import runner
from s_cnn_rnn.metrics import caption_scores


def _concept_lines(page: str) -> list[str]:
    return re.findall(r"Concept layer, top \d+ without function words</dt><dd><span class=\"\">([^<]*)</span>", page)


def test_caption_report_lists_concepts_without_stop_words_with_probabilities(
        tiny_synthetic_data, tiny_caption_model_dir, tmp_path, monkeypatch):
    # The report's concepts do not depend on the scores: Java hidden, METEOR n/a (its JVMs cost ~25 s).
    monkeypatch.setattr(caption_scores, "find_java", lambda: None)
    result = runner.evaluate(tiny_caption_model_dir, tiny_synthetic_data, split="test", batch_size=4,
                             max_images=4, show_progress=False)
    # The first image's most probable concepts are function words, as on COCO ("a, the, in").
    first = result.predictions[0]
    first["concepts"] = ["a", "the", "dog", "in", "grass", "on", "sky", "park", "of", "tree", "people"]
    first["concept_scores"] = [0.99, 0.98, 0.91, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    outputs = runner.write_outputs(result, str(tmp_path / "eval"))
    paths = report.write_report(result, tiny_synthetic_data, str(tmp_path / "report" / "captions.html"),
                                num_images=4, predictions_path=outputs["predictions"])
    page = open(paths["html"], encoding="utf-8").read()
    lines = _concept_lines(page)
    assert len(lines) == 4
    assert lines[0] == "dog 0.91, grass 0.85, sky 0.70, park 0.60, tree 0.40"
    for line, entry in zip(lines, result.predictions):
        listed = [item.rsplit(" ", 1) for item in line.split(", ")]
        assert listed and all(word not in report.STOP_WORDS for word, _ in listed)
        scores = dict(zip(entry["concepts"], entry["concept_scores"]))
        assert all(abs(float(probability) - scores[word]) < 0.006 for word, probability in listed)
    assert "leaving out the function words " + ", ".join(report.STOP_WORDS) in page


def test_reports_link_each_image_to_its_line_in_the_predictions_file(
        tiny_synthetic_data, tiny_multilabel_model_dir, tmp_path):
    result = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", batch_size=4,
                             max_images=3, show_progress=False)
    outputs = runner.write_outputs(result, str(tmp_path / "eval"))
    html_path = tmp_path / "pages" / "labels.html"
    report.write_report(result, tiny_synthetic_data, str(html_path), num_images=3,
                        predictions_path=outputs["predictions"])
    page = html_path.read_text(encoding="utf-8")
    with open(outputs["predictions"], encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    for number, entry in enumerate(result.predictions[:3], start=1):
        image_id = entry["image_id"]
        assert f'id="image-{image_id}"' in page and f'href="#image-{image_id}"' in page
        link = re.search(rf'id="image-{image_id}".*?<a href="([^"]+)">predictions.jsonl</a> line (\d+), '
                         rf'&quot;image_id&quot;: {image_id}|id="image-{image_id}".*?<a href="([^"]+)">'
                         rf'predictions.jsonl</a> line (\d+), "image_id": {image_id}', page)
        assert link, image_id
        href, line = (link.group(1), link.group(2)) if link.group(1) else (link.group(3), link.group(4))
        assert os.path.samefile(html_path.parent / href, outputs["predictions"])
        assert int(line) == number and lines[number - 1]["image_id"] == image_id
