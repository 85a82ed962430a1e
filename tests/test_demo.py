"""`s-cnn-rnn-demo` end to end at a tiny size (the suite's one slower test), and its rerun."""

import json
import os
import subprocess
import sys


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Every step of the demo runs as it does for a user, its flagfiles read and parsed; only the models
# are the suite's tiny size: what this test checks (the steps, their outputs, the rerun) does not
# depend on the model's size, and the demo's width-32/256-unit models cost most of its CPU time.
TINY_MODEL_FLAGS = ("--image_size=32", "--small_cnn_width=8", "--embedding_dim=16", "--lstm_units=16",
                    "--batch_size=8", "--validation_steps=1")


def _tiny_flags_dir(folder):
    """Demo flagfiles that include the real ones and shrink the models."""
    folder.mkdir(exist_ok=True)
    for name in ("demo_multilabel.flags", "demo_caption.flags"):
        (folder / name).write_text("\n".join([f"--flagfile={os.path.join(PROJECT_ROOT, 'flags', name)}",
                                              *TINY_MODEL_FLAGS]) + "\n")
    return folder


def _demo(output_dir, no_java_dir, flags_dir):
    """The demo with Java hidden: METEOR is n/a and the caption evaluation skips its two JVM starts
    (~15 of the demo's ~120 CPU s); the Java path is caption_scores' own test's business."""
    command = [
        sys.executable, "-m", "s_cnn_rnn.demo", f"--output_dir={output_dir}", "--num_train=48", "--num_val=8",
        "--num_test=8", "--train_steps=3", f"--flags_dir={flags_dir}",
    ]
    env = dict(os.environ, PATH=str(no_java_dir))  # the demo starts its steps with sys.executable, not PATH
    env.pop("JAVA_HOME", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=PROJECT_ROOT,
                          env=env)


def test_demo_writes_results_report_and_curves_and_reuses_work(tmp_path):
    output_dir = tmp_path / "demo"
    no_java_dir = tmp_path / "no_java_bin"
    no_java_dir.mkdir()
    flags_dir = _tiny_flags_dir(tmp_path / "flags")
    first = _demo(output_dir, no_java_dir, flags_dir)
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
    # A rerun converts, trains and evaluates nothing again, and starts no TensorFlow process for it.
    second = _demo(output_dir, no_java_dir, flags_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "data: reusing" in second.stdout
    assert second.stdout.count("trained earlier with the same command and flagfile") == 2
    assert "-m s_cnn_rnn.train" not in second.stdout and "evaluate the" not in second.stdout


# Run in a process of its own: importing the demo defines its flags in absl's global FLAGS.
TRAINED_EARLIER_SCRIPT = r"""
import json, os, sys, time
from s_cnn_rnn import atomic_files, demo
model_dir, flagfile = sys.argv[1], sys.argv[2]
command = [sys.executable, "-m", "s_cnn_rnn.train", f"--flagfile={flagfile}", f"--model_dir={model_dir}"]
checkpoint = os.path.join(model_dir, "joint", "checkpoints", "ckpt-3.index")
os.makedirs(os.path.dirname(checkpoint))
open(checkpoint, "w").close()
record = demo._training_record(command, flagfile)
answers = {"nothing recorded": demo.trained_earlier(model_dir, record)}
atomic_files.write_json(os.path.join(model_dir, demo.TRAINED_FILE), record)
answers["same"] = demo.trained_earlier(model_dir, record)
answers["other command"] = demo.trained_earlier(model_dir, demo._training_record(command + ["--seed=1"], flagfile))
with open(flagfile, "a") as handle:
    handle.write("--lstm_units=8\n")
answers["flagfile edited"] = demo.trained_earlier(model_dir, demo._training_record(command, flagfile))
later = time.time() + 60
os.utime(checkpoint, (later, later))
answers["a newer checkpoint"] = demo.trained_earlier(model_dir, record)
os.remove(checkpoint)
answers["no checkpoint"] = demo.trained_earlier(model_dir, record)
print(json.dumps(answers))
"""


def test_a_training_is_skipped_only_when_its_command_flagfile_and_checkpoints_are_unchanged(tmp_path):
    flagfile = tmp_path / "demo_caption.flags"
    flagfile.write_text("--lstm_units=16\n")
    completed = subprocess.run([sys.executable, "-c", TRAINED_EARLIER_SCRIPT, str(tmp_path / "model"), str(flagfile)],
                               capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT_ROOT)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert json.loads(completed.stdout) == {"nothing recorded": False, "same": True, "other command": False,
                                            "flagfile edited": False, "a newer checkpoint": False,
                                            "no checkpoint": False}


def test_the_demo_process_imports_no_tensorflow():
    """It only starts the commands and reads their JSON: it starts in a second, not TensorFlow's six."""
    code = "import sys; import s_cnn_rnn.demo; assert 'tensorflow' not in sys.modules, 'the demo imported TensorFlow'"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
