"""Serving: the self-contained SavedModel (`export_lib`) and image-file prediction (`predict_lib`).

Both read encoded images through `image_input`, so a served, a predicted and an evaluated
image reach the model as the same pixels; `outputs` turns decoded token ids into strings
inside the graph (the SavedModel carries its vocabularies as constants).
"""
