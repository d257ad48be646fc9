"""The retraining recipe (``python -m medgan train-all``): the table of bundled checkpoints and how each is
trained (:mod:`medgan.recipes.table`), and the runner that trains, exports, measures and compares them
(:mod:`medgan.recipes.runner`)."""
