"""Evaluation of a trained model on a converted split: decoding, the paper's metrics, a report.

`runner.evaluate` composes the jobs: `decode_split` (the Annotator over a split), `scoring`
(the model's task scores it), `tables` (the paper's tables); `outputs.write_outputs` writes
metrics.json and the predictions, `report.write_report` renders ground truth beside predictions
(HTML + PNG); `s_cnn_rnn.evaluate` is the command line (`s-cnn-rnn-evaluate`).
"""

from s_cnn_rnn.evaluation.report import write_report
from s_cnn_rnn.evaluation.runner import EvaluationResult, evaluate, write_outputs

__all__ = ["EvaluationResult", "evaluate", "write_outputs", "write_report"]
