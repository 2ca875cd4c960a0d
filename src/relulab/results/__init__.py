"""Results on disk: the Parquet schema (:mod:`~relulab.results.schema`), the atomic writer and
reader of a results folder (:mod:`~relulab.results.store`), its DuckDB query sandbox
(:mod:`~relulab.results.query`) and the ids of cells and runs (:mod:`~relulab.config.ids`).
Torch-free."""
