"""The real app (python app.py) attacked from outside: the public ``/generate`` endpoint cannot reproduce a study's
generated cases; the admin handlers refuse calls by fn_index without a session; admin password guessing is
rate-limited and locked out."""

from __future__ import annotations

import io
import json
import re
import secrets
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan.db import get_engine
from medgan.defaults import DEFAULT_MODELS
from medgan.inference import find_card, output_size
from medgan.turing.store import TuringStore
from medgan.turing.study import create_study, embedded_real
from medgan.turing.study_types import StudyOptions
from tests.live_server import LiveApp

gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")
PASSWORD = "live-admin-pw-5d1f"


@pytest.fixture(scope="module")
def live(tmp_path_factory):  # noqa: ANN201
    home = tmp_path_factory.mktemp("security-home")
    store = TuringStore(get_engine(f"sqlite:///{home / 'medgan.db'}"))
    # the old design's public parameters: seed 0, the default generation model
    info = create_study("blind", StudyOptions(n_cases=8, seed=0), real=embedded_real("embedded-test"),
                        generated=[DEFAULT_MODELS["generation"]], store=store)
    with LiveApp(env={"MEDGAN_HOME": str(home), "MEDGAN_ADMIN_PASSWORD": PASSWORD}) as app:
        yield app, store, info


def _gray(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32)


def _to_native(png: bytes, size: int) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("F").resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)


def test_generate_endpoint_cannot_reproduce_generated_cases(live) -> None:  # noqa: ANN001
    from medgan.turing.presentation import present_pixels

    app, store, info = live
    client = gradio_client.Client(app.url, verbose=False)
    samples = []
    for seed in range(6):
        files, _ = client.predict("", 4, seed, api_name="/generate")
        samples += [_gray(f) for f in files if not Path(f).name.endswith("_labels.png")]
    native = output_size(find_card(DEFAULT_MODELS["generation"]))  # what the generator outputs (its renderer's size)
    assert len(samples) == 24 and samples[0].shape == (native, native)
    cases = [store.case_png(c["case_key"]) for c in store.case_table(info.id) if c["truth"] == "generated"]
    assert len(cases) == 4

    def diff(case_png: bytes, sample: np.ndarray) -> float:
        """99th percentile of |case − sample| in grey levels at the native size: small for a reproduction
        (only resampling and rounding differ); distinct samples of one generator differ by far more somewhere."""
        return float(np.percentile(np.abs(_to_native(case_png, native) - sample), 99))

    # positive control: every sample shown through the study's pipeline is recognised as itself
    from medgan.turing.render import encode_png

    controls = [diff(encode_png(present_pixels(s / 255.0, native)), s) for s in samples]
    assert max(controls) < 10.0, controls
    nearest = min(diff(c, s) for c in cases for s in samples)
    assert nearest > 20.0, f"a generated case is reproduced by /generate (99th percentile |diff| {nearest:.1f})"


def _call_fn_index(url: str, fn_index: int, data: list) -> dict:
    """The browser's own protocol: join the queue with a fn_index, read the result from the event stream."""
    session = secrets.token_hex(8)
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                     "event_data": None, "trigger_id": None})
        r.raise_for_status()
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        return msg
    raise AssertionError("no result")


def _dependencies(url: str) -> dict[str, tuple[int, int]]:
    """Button label → (fn_index, number of inputs)."""
    config = httpx.get(url + "config", timeout=30).json()
    labels = {c["id"]: c["props"].get("value") for c in config["components"] if c["type"] == "button"}
    out = {}
    for dep in config["dependencies"]:
        for target in dep["targets"]:
            if labels.get(target[0]):
                out[labels[target[0]]] = (dep["id"], len(dep["inputs"]))
    return out


def test_admin_handlers_refuse_calls_without_a_session(live) -> None:  # noqa: ANN001
    app, store, info = live
    deps = _dependencies(app.url)
    forged = "forged-session-token"
    calls = {
        "Issue codes": [forged, "blind", 5],
        "Show results": [forged, "blind"],
        "Close": [forged, "blind"],
        "Write results into model cards": [forged, "blind", True],
    }
    for label, data in calls.items():
        fn_index, n_inputs = deps[label]
        assert n_inputs == len(data), label
        msg = _call_fn_index(app.url, fn_index, data)
        blob = json.dumps(msg)
        assert "unlock the admin panel" in blob or not msg.get("success"), (label, blob[:300])
        assert "scored votes" not in blob and "Study **blind** is now" not in blob
    assert store.reader_table(info.id) == []  # no reader codes were issued
    assert store.get_study("blind").status == "open"
    fn_index, n_inputs = deps["Create study (renders all cases now)"]
    msg = _call_fn_index(app.url, fn_index, [forged, "sneaky", "Embedded test slices (20)", None, "",
                                             [DEFAULT_MODELS["generation"]], 4, 0.5, 0, True, 0, 0, False, True,
                                             True][:n_inputs])
    assert [s.name for s in store.list_studies()] == ["blind"], json.dumps(msg)[:300]


def test_admin_password_guessing_is_rate_limited(live) -> None:  # noqa: ANN001
    app, _, _ = live
    fn_index, _ = _dependencies(app.url)["Unlock"]
    replies = [json.dumps(_call_fn_index(app.url, fn_index, [f"guess-{i}"])) for i in range(30)]
    assert all("Admin unlocked" not in r for r in replies)
    locked = [r for r in replies if "locked" in r]
    assert len(locked) >= 25, replies[:5]
    # during a lock-out even the right password is not checked. The locks double with each guess that is
    # checked (2, 4, 8, 16 s …), and a lock the guesses above set may have run out on a slow machine: keep guessing
    # until a wrong guess is locked for at least 16 s, then send the right password at once
    deadline = time.monotonic() + 180
    while True:
        reply = json.dumps(_call_fn_index(app.url, fn_index, ["still-wrong"]))
        assert "Admin unlocked" not in reply
        lock = re.search(r"locked for (\d+) s", reply)
        if lock and int(lock.group(1)) >= 16:
            break
        assert time.monotonic() < deadline, reply[:300]
        time.sleep(0.5)
    right = json.dumps(_call_fn_index(app.url, fn_index, [PASSWORD]))
    assert "try again in" in right and "Admin unlocked" not in right
