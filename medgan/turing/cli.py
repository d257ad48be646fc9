"""``python -m medgan turing {create,codes,close,reopen,results,export} ...`` (server-side administration)."""

from __future__ import annotations

import argparse
import json
import sys

from medgan.checkpoints import json_safe
from medgan.turing.study import EMBEDDED_SETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="turing_command", required=True)
    c = sub.add_parser("create", help="create a study (renders every case now)")
    c.add_argument("name")
    real = c.add_mutually_exclusive_group()
    real.add_argument("--real", choices=sorted(EMBEDDED_SETS), default=None,
                      help="embedded real slices (default: the slices not used to train the checkpoints, by their "
                           "cards: embedded-heldout = val + test, 40 slices; embedded-all includes training slices)")
    real.add_argument("--real-files", nargs="+", metavar="FILE", help="real images (PNG/JPEG/TIFF/DICOM/NIfTI)")
    real.add_argument("--real-folder", help="a folder inside MEDGAN_TURING_REAL_DIR")
    c.add_argument("--checkpoint", action="append", required=True, metavar="NAME",
                   help="generation or synthesis checkpoint (repeat for several)")
    c.add_argument("--cases", type=int, default=100)
    c.add_argument("--real-fraction", type=float, default=0.5)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--practice", type=int, default=0, help="practice cases with feedback, shown first")
    c.add_argument("--time-limit", type=float, default=None, help="seconds per case (late votes are not scored)")
    c.add_argument("--no-confidence", action="store_true", help="do not ask for a 1-5 confidence")
    c.add_argument("--revisit", action="store_true", help="readers may go back and change answers")
    c.add_argument("--hide-score", action="store_true",
                   help="do not show readers their score once their answers are locked")
    c.add_argument("--allow-separable", action="store_true",
                   help="create the study even if a simple image statistic separates real from generated cases")
    k = sub.add_parser("codes", help="issue reader codes (printed once)")
    k.add_argument("study")
    k.add_argument("-n", type=int, default=4)
    for name in ("close", "reopen"):
        sub.add_parser(name, help=f"{name} a study").add_argument("study")
    r = sub.add_parser("results", help="print the analysis")
    r.add_argument("study")
    r.add_argument("--json", action="store_true", help="print the full summary as JSON")
    r.add_argument("--write-cards", action="store_true",
                   help="write results into user checkpoints' model cards (MEDGAN_HOME/checkpoints)")
    r.add_argument("--include-repo-checkpoints", action="store_true",
                   help="with --write-cards: also the bundled cards under checkpoints/ in the repository")
    e = sub.add_parser("export", help="write votes and summary CSV files")
    e.add_argument("study")
    e.add_argument("--out", default=".", help="output folder")
    sub.add_parser("list", help="list studies")


def main(args: argparse.Namespace) -> int:
    from medgan.turing import results as res
    from medgan.turing.service import get_store, summary_markdown
    from medgan.turing.store import StudyError

    store = get_store()
    cmd = args.turing_command
    try:
        if cmd == "create":
            from medgan.turing import study as st
            from medgan.turing.study_types import StudyOptions

            opts = StudyOptions(n_cases=args.cases, real_fraction=args.real_fraction, seed=args.seed,
                                confidence=not args.no_confidence, n_practice=args.practice,
                                time_limit_s=args.time_limit, allow_revisit=args.revisit,
                                show_score=not args.hide_score)
            if args.real_files:
                real = st.files_real(args.real_files)
            elif args.real_folder:
                real = st.folder_real(args.real_folder)
            else:
                real = st.embedded_real(args.real or st.default_real_set(args.checkpoint))
            info = st.create_study(args.name, opts, real=real, generated=args.checkpoint, store=store,
                                   on_separable="warn" if args.allow_separable else "refuse")
            print(f"created study {info.name!r} (id {info.id}): {opts.n_cases} cases + {opts.n_practice} practice")
            print((info.design or {}).get("presentation", {}).get("check_message", ""))
        elif cmd == "codes":
            for label, code in store.issue_codes(args.study, args.n):
                print(f"{label}\t{code}")
            print("(codes are stored hashed and cannot be shown again)", file=sys.stderr)
        elif cmd in ("close", "reopen"):
            store.set_status(args.study, "closed" if cmd == "close" else "open")
            print(f"study {args.study!r} is now {'closed' if cmd == 'close' else 'open'}")
        elif cmd == "results":
            summary, _ = res.study_summary(store, args.study)
            if args.json:
                print(json.dumps(json_safe(summary), indent=2))
            else:
                print(summary_markdown(summary, args.study))
                for r in summary["per_reader"]:
                    print(f"  {r['reader']}: n={r['n']} accuracy={r['accuracy']:.3f} "
                          f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] p={r['p_value']:.3g}")
                for s in summary["per_source"]:
                    print(f"  {s['source']} ({s['truth']}): n={s['n']} called generated={s['called_generated']:.3f}")
            if args.write_cards:
                for path in res.write_model_cards(store, args.study, include_repo=args.include_repo_checkpoints):
                    print(f"wrote {path}")
        elif cmd == "export":
            for path in res.export_csv(store, args.study, args.out):
                print(path)
        elif cmd == "list":
            for s in store.list_studies():
                print(f"{s.id}\t{s.name}\t{s.status}\t{s.options.n_cases} cases")
        return 0
    except (StudyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
