"""Training curves from `MODEL_DIR/<stage>/history.jsonl`, drawn with matplotlib (no display)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

from s_cnn_rnn import atomic_files  # pylint: disable=wrong-import-position
from s_cnn_rnn import model_dir as model_dir_lib  # pylint: disable=wrong-import-position
from s_cnn_rnn.models import variants  # pylint: disable=wrong-import-position


def stage_histories(model_dir: str) -> dict[str, list[dict]]:
    """{stage: records} for the stages of a model dir that have a history, in stage order."""
    return model_dir_lib.stage_histories(model_dir, variants.STAGE_ORDER)


def plot_training_curves(model_dirs: dict[str, str], png_path: str) -> str:
    """One row per model, one panel per stage: training and validation loss terms against steps.

    Args:
      model_dirs: {title: model dir}.
      png_path: where the PNG goes (written to a temporary name, then renamed).

    Returns:
      png_path.
    """
    rows = {title: stage_histories(path) for title, path in model_dirs.items()}
    columns = max((len(h) for h in rows.values()), default=1) or 1
    figure, axes = plt.subplots(len(rows), columns, figsize=(4.2 * columns, 3.2 * len(rows)), squeeze=False)
    for row, (title, histories) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row][column]
            if column >= len(histories):
                axis.axis("off")
                continue
            stage, records = list(histories.items())[column]
            for key, style in (("L_u", "-"), ("L_r", "-"), ("val_L_u", "o--"), ("val_L_r", "o--")):
                points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
                if points:
                    steps, values = zip(*points)
                    axis.plot(steps, values, style, label=key, markersize=3)
            axis.set_title(f"{title}: {stage} stage", fontsize=9)
            axis.set_xlabel("step")
            axis.set_ylabel("loss (sum per example)")
            axis.legend(fontsize=7)
            axis.grid(alpha=0.3)
    figure.tight_layout()
    try:
        with atomic_files.replacing(png_path) as temporary:
            figure.savefig(temporary, format="png", dpi=90)
    finally:
        plt.close(figure)
    return png_path
