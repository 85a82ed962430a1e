"""`s-cnn-rnn-demo` end to end at a tiny size (the suite's one slower test), and its rerun."""

import json
import os
import subprocess
import sys


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _demo(output_dir, no_java_dir):
    """The demo with Java hidden: METEOR is n/a and the caption evaluation skips its two JVM starts
    (~15 of the demo's ~120 CPU s); the Java path is caption_scores' own test's business."""
    command = [
        sys.executable, "-m", "s_cnn_rnn.demo", f"--output_dir={output_dir}", "--num_train=48", "--num_val=8",
        "--num_test=8", "--train_steps=3",
    ]
    env = dict(os.environ, PATH=str(no_java_dir))  # the demo starts its steps with sys.executable, not PATH
    env.pop("JAVA_HOME", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=PROJECT_ROOT,
                          env=env)


def test_demo_writes_results_report_and_curves_and_reuses_work(tmp_path):
    output_dir = tmp_path / "demo"
    no_java_dir = tmp_path / "no_java_bin"
    no_java_dir.mkdir()
    first = _demo(output_dir, no_java_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results) == {"multilabel", "captioning"}
    assert set(results["multilabel"]) == {"C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"}
    assert set(results["captioning"]) == {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    for value in list(results["multilabel"].values()) + [results["captioning"]["CIDEr"]]:
        assert 0.0 <= value <= 10.0
    page = (output_dir / "report.html").read_text()
    assert "training_curves.png" in page and "report_caption.html" in page
    for name in ("training_curves.png", "report_caption.html", "report_multilabel.html"):
        assert (output_dir / name).stat().st_size > 0
    # Both tables are printed.
    assert "C-F1" in first.stdout and "CIDEr" in first.stdout
    # A rerun converts, trains and evaluates nothing again.
    second = _demo(output_dir, no_java_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "data: reusing" in second.stdout
    assert "already finished" in second.stderr
    assert "evaluate the" not in second.stdout
