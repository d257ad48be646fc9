"""Studio / API benchmark: prints its figures (targets from the design; nothing here fails a build).

1. app start → ready: ``python app.py`` in a subprocess until it answers HTTP (target ≤ 10 s)
2. one ``/synthesize`` and one ``/inpaint`` round trip through ``gradio_client`` at 256×256 (target ≤ 1 s each;
   median of 5 after one warm-up call that loads the model)
3. synthesis over a whole 150-slice volume with ``medgan.tasks.run_volume`` (target ≤ 30 s)
4. resident memory of a process that built the app and loaded every bundled checkpoint (target ≤ 2 GB)

Run: ``python benchmarks/app_bench.py`` (``--stand-ins`` replaces missing bundled checkpoints with untrained
ones of the same architecture, for a tree where they are not trained yet; the figures then say so).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"start": 10.0, "synthesize": 1.0, "inpaint": 1.0, "volume": 30.0, "rss_gb": 2.0}

RSS_SNIPPET = r"""
import os, sys
sys.path.insert(0, os.getcwd())
from medgan.ui import build_demo
from medgan.inference import list_cards, load_model
build_demo()
names = [c.name for c in list_cards() if c.bundled]
for n in names:
    load_model(n)
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]
print(len(names), int(rss))
"""


def _line(name: str, value: float, unit: str, target: float, note: str = "") -> None:
    ok = "ok" if value <= target else "OVER TARGET"
    print(f"{name:<42} {value:8.2f} {unit:<3} (target ≤ {target:g} {unit}) {ok} {note}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stand-ins", action="store_true", help="untrained stand-ins for missing checkpoints")
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="medgan-bench-home-")
    os.environ["MEDGAN_HOME"] = home
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import numpy as np
    import torch
    from gradio_client import Client, handle_file

    from medgan.data import load_brain_volume
    from medgan.inference import list_cards
    from medgan.io import write_png
    from tests.live_server import LiveApp

    note = ""
    if args.stand_ins:
        from tests.ui_checkpoints import ensure_checkpoints

        made = [k for k, v in ensure_checkpoints().items() if v == "stand-in"]
        note = f"(untrained stand-ins: {', '.join(made)})" if made else ""
    have = {c.name for c in list_cards()}
    print(f"medgan studio app benchmark · torch {torch.__version__} · {torch.get_num_threads()} threads · "
          f"{os.cpu_count()} CPUs · load average {os.getloadavg()[0]:.1f} {note}")

    bv = load_brain_volume()
    k = int(np.flatnonzero(bv.split == "test")[len(np.flatnonzero(bv.split == 'test')) // 2])
    tmp = Path(home)
    write_png(tmp / "labels.png", bv.labels[k])
    write_png(tmp / "brain.png", bv.volume[k])

    with LiveApp(env={"MEDGAN_HOME": home}) as app:
        _line("app start → ready", app.startup_seconds or float("nan"), "s", TARGETS["start"])
        client = Client(app.url, verbose=False)
        calls = {
            "synthesize": ("spade_synthesis", lambda: client.predict(
                handle_file(str(tmp / "labels.png")), "spade_synthesis", 0, None, -1, api_name="/synthesize")),
            "inpaint": ("spade_inpainting", lambda: client.predict(
                handle_file(str(tmp / "brain.png")), None, "spade_inpainting", handle_file(str(tmp / "labels.png")),
                -1, api_name="/inpaint")),
        }
        for name, (ckpt, call) in calls.items():
            if ckpt not in have:
                print(f"/{name} round trip: skipped, checkpoint {ckpt} is not installed")
                continue
            call()  # warm-up: loads the model once
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            _line(f"/{name} round trip 256×256 (median of {args.repeats})", statistics.median(times), "s",
                  TARGETS[name], f"min {min(times):.2f}")

    if "spade_synthesis" in have:
        from medgan import tasks

        z = min(args.slices, bv.volume.shape[0])
        start = max(0, (bv.volume.shape[0] - z) // 2)
        vol, lab = bv.volume[start : start + z], bv.labels[start : start + z]
        tasks.synthesize(lab[z // 2], "spade_synthesis")  # load outside the timing
        t0, c0 = time.perf_counter(), time.process_time()
        res = tasks.run_volume("synthesis", vol, "spade_synthesis", labels=lab)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        _line(f"synthesis, whole {z}-slice volume (with metrics)", dt, "s", TARGETS["volume"],
              f"cpu {cpu:.0f} s · mean PSNR {res.metrics.get('psnr', float('nan')):.2f} dB")
        t0, c0 = time.perf_counter(), time.process_time()
        tasks.run_volume("synthesis", vol, "spade_synthesis", labels=lab, metrics=False)
        _line(f"synthesis, whole {z}-slice volume (no U-Net Dice)", time.perf_counter() - t0, "s",
              TARGETS["volume"], f"cpu {time.process_time() - c0:.0f} s")

    out = subprocess.run([sys.executable, "-c", RSS_SNIPPET], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "MEDGAN_HOME": home}, timeout=600)
    if out.returncode == 0:
        n, kb = (int(v) for v in out.stdout.split()[-2:])
        _line(f"resident memory, app + {n} bundled models", kb / 1024**2, "GB", TARGETS["rss_gb"])
    else:
        print("resident memory: failed\n" + out.stderr[-2000:])
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (figures scale with it on a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
