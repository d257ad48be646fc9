"""The blinded visual Turing test.

- :mod:`medgan.turing.study`: image sources (embedded slices, uploaded files, a server folder enabled by
  ``MEDGAN_TURING_REAL_DIR``, generation/synthesis checkpoints, in-memory arrays) and :func:`create_study`, which
  selects cases with the study seed and renders each once to the canonical PNG (:mod:`medgan.turing.render`).
- :mod:`medgan.turing.store`: SQLAlchemy store on :func:`medgan.db.get_engine` (tables ``turing_*``): studies,
  cases, readers (auth usernames or hashed reader codes), per-reader shuffled order with random tokens, votes
  (one per study/reader/case, idempotency key, server-measured time).
- :mod:`medgan.turing.service`: blinded reader screens and admin password check (``MEDGAN_ADMIN_PASSWORD``).
- :mod:`medgan.turing.analysis` (pure statistics), :mod:`medgan.turing.results` (CSV, charts, model cards).
- :mod:`medgan.turing.cli`: ``python -m medgan turing {create,codes,close,reopen,results,export,list}``.
"""
