"""Raw datasets -> sharded TFRecords, vocabularies and manifest; the built-in synthetic dataset."""
