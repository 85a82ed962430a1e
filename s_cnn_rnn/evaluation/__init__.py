"""Evaluation of a trained model on a converted split: decoding, the paper's metrics, a report.

`runner.evaluate` composes the jobs: `decode_split` (the Annotator over a split), `scoring`
(the model's task scores it), `tables` (the paper's tables); `outputs.write_outputs` writes
metrics.json and the predictions, `report.write_report` renders ground truth beside predictions
(HTML + PNG); `s_cnn_rnn.evaluate` is the command line (`s-cnn-rnn-evaluate`).

The package imports none of them: `tables` and `curves` read metrics.json and history files
without TensorFlow, so the demo's orchestrating process starts in a second.
"""
