"""`s-cnn-rnn-reproduce`: one command per paper table (Tables 1, 2 and 4), beside the paper's numbers.

Modules: `paper_results` (the published numbers), `tables` (each table's rows and flagfiles),
`runner` (train + evaluate a row per seed in subprocesses, skip and resume), `aggregate` (seed
statistics and differences), `claims` (the paper's claims as data), `paired_test` and `verdicts` (a
decision per claim), `render` and `verdict_table` (Markdown, JSON, PNG), `cli` (the command). No module here
imports TensorFlow: the training and evaluation run in their own processes.
"""
