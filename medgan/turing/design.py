"""The study's design record (exported beside the votes): what was shown, from where, and the seed commitment."""

from __future__ import annotations

from medgan.turing.store import TuringStore


def design_record(store: TuringStore, study: str | int) -> dict:
    """Study name, status, options, the design stored at creation (SHA-256 commitment of the secret, generated
    and real sources, presentation pipeline and its separability check) and the case table: case id, truth,
    source, admin note (slice / noise index), practice flag, SHA-256 of the PNG shown. Never the secret."""
    info = store.get_study(study)
    cases = [{"case": c["case"], "truth": c["truth"], "source": c["source"], "source_ref": c["source_ref"],
              "practice": bool(c["practice"]), "png_sha256": c["sha256"]} for c in store.case_table(info.id)]
    return {"study": info.name, "status": info.status, "created_at": info.created_at,
            "options": info.options.to_dict(), "design": info.design or {}, "cases": cases,
            "readers": [r["reader"] for r in store.reader_table(info.id)]}
