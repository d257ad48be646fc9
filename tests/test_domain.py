"""The model's domain (medgan.domain): the cards declare it, one input normalisation, and the in-domain score
calibrated on the embedded split flags CT, non-brain MR, ultrasound, RGB and noise while template slices and the
mild contrast shifts pass. Real DICOM files from pydicom-data; the bundled U-Net and statistics."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from medgan import domain, domain_stats
from medgan.data import load_brain
from medgan.data.randomise import TEST_SHIFTS
from medgan.inference import BUNDLED_DIR, list_cards

OOD_FILES = ["CT_small.dcm", "693_J2KR.dcm", "MR2_J2KR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "US1_J2KR.dcm",
             "SC_rgb.dcm"]


def _scan(name):
    from pydicom.data import get_testdata_file

    from medgan.io import read_scan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_scan(get_testdata_file(name))


def test_bundled_statistics_match_the_installed_unet():
    # nothing heavy at startup: the shipped statistics were computed with these U-Net weights
    cal = domain_stats.Calibration.load(domain_stats.BUNDLED)
    assert cal.fingerprint == domain_stats.fingerprint()
    assert domain_stats.BUNDLED.stat().st_size < 200_000


@pytest.mark.parametrize("split", ["val", "test"])
def test_calibration_passes_the_embedded_held_out_slices(split):
    scores = domain_stats.score_many(list(load_brain(split).images))
    assert (scores <= 1).mean() >= 0.95, scores


@pytest.mark.parametrize("name", OOD_FILES)
def test_out_of_domain_files_are_flagged_by_the_image_score_alone(name):
    scan = _scan(name)
    img = domain.normalise(scan)[scan.shape[0] // 2]
    score, why = domain_stats.score(img)
    assert score > 1 and why, (name, score)
    chk = domain.check(img, "unet_segmentation", scan)
    assert not chk.in_domain and chk.metrics()["in domain"] == 0.0
    assert "Train" in chk.warning() and chk.reasons


def test_metadata_rules_name_what_differs():
    ct = domain.check(domain.normalise(_scan("CT_small.dcm"))[0], "unet_segmentation", _scan("CT_small.dcm"))
    assert any("modality is CT" in r for r in ct.reasons)
    us = _scan("US1_J2KR.dcm")
    assert any("ultrasound" in r for r in domain.metadata_reasons(us))
    rgb = _scan("SC_rgb.dcm")
    assert any("colour" in r for r in domain.metadata_reasons(rgb))
    assert any("abdomen" in r for r in domain.metadata_reasons(_scan("MR-SIEMENS-DICOM-WithOverlays.dcm")))


def test_a_modality_the_model_was_trained_on_is_not_called_a_difference():
    """wgangp_denoise saw CR, CT and NM slices besides MR: a CT is not flagged for its modality (the message
    said "modality is CT, the model was trained on MR, plus CR, CT and NM slices"); the image score still
    speaks for a CT that does not look like its training slices."""
    ct = _scan("CT_small.dcm")
    chk = domain.check(domain.normalise(ct)[0], "wgangp_denoise", ct)
    assert not any("modality" in r for r in chk.reasons), chk.reasons
    assert not chk.in_domain and chk.reasons
    assert domain.trained_modalities(domain.MIXED_MODALITY) == ("MR", "CR", "CT", "NM")
    us = _scan("US1_J2KR.dcm")
    assert any("ultrasound" in r for r in domain.metadata_reasons(us, "wgangp_denoise"))


def test_noise_images_are_flagged():
    from scipy import ndimage

    rng = np.random.default_rng(1)
    smooth = ndimage.gaussian_filter(rng.standard_normal((128, 160)), 3)
    for img in (rng.random((256, 256)), (smooth - smooth.min()) / np.ptp(smooth)):
        assert not domain.check(img.astype(np.float32)).in_domain


def test_template_slices_and_the_mild_shifts_pass_t2_does_not():
    test = load_brain("test")
    rates = {}
    for name in ("gamma 0.6", "bias +30%", "bias -30%", "blur 1", "T2-like (held out)"):
        fn = TEST_SHIFTS[name]
        s = domain_stats.score_many([fn(im, lb) for im, lb in zip(test.images, test.labels)])
        rates[name] = float((s <= 1).mean())
    assert all(rates[n] >= 0.95 for n in ("gamma 0.6", "bias +30%", "bias -30%", "blur 1")), rates
    assert rates["T2-like (held out)"] <= 0.2, rates  # the held-out contrast is out of the models' domain
    chk = domain.check(test.images[5], "spade_synthesis", None)
    assert chk.in_domain and chk.warning() == "" and 0 <= chk.score <= 1


def test_every_bundled_card_declares_its_domain():
    keys = {"modality", "anatomy", "contrast", "orientation", "intensity", "pixel_spacing_mm", "size_px",
            "training_data", "normalisation"}
    cards = list_cards()
    assert len(cards) >= 10
    for card in cards:
        if not card.bundled:
            continue
        raw = json.loads(card.card_path.read_text())
        assert keys <= set(raw["domain"]), card.name
        assert card.domain == raw["domain"]
        assert raw["domain"]["modality"].startswith("MR")  # enhancers also saw real CR/CT/NM slices
        assert raw["domain"]["normalisation"]["percentiles"] == [0.5, 99.5]
        assert raw["domain"]["size_px"] == [card.image_size, card.image_size]
        assert "Trained on:" in domain.domain_text(card)


def test_card_domain_writer_keeps_other_fields(tmp_path):
    for p in BUNDLED_DIR.glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    assert domain.write_card_domains(tmp_path) == []  # the bundled cards are up to date
    card = json.loads((tmp_path / "spade_synthesis.json").read_text())
    del card["domain"]
    card["training_command"] = "python -m medgan train --task synthesis --randomise 0.5 --steps 10"
    (tmp_path / "spade_synthesis.json").write_text(json.dumps(card, indent=2))
    assert domain.write_card_domains(tmp_path) == [tmp_path / "spade_synthesis.json"]
    new = json.loads((tmp_path / "spade_synthesis.json").read_text())
    assert {k: v for k, v in new.items() if k != "domain"} == card
    assert new["domain"]["contrast"] == "T1-like and randomised contrasts; T2-like held out"
    plain = {**card, "training_command": "python -m medgan train --task synthesis --steps 10"}
    assert domain.card_domain(plain, {"randomise": 0.0})["randomised"] is None


def test_one_normalisation_for_every_entry_point():
    from medgan.data import brain_scan
    from medgan.io.scan import Scan
    from medgan.tasks.volume import unit_volume

    bv = brain_scan()
    assert domain.scan_window(bv) == (0.5, 1.0)
    # a skull-stripped T1 in scanner units comes back as the template was: non-zero percentiles, zero kept zero
    vol = np.asarray(bv.volume[80:100]) * 1234.0
    scan = Scan(volume=vol, spacing=(1.0, 1.0, 1.0), affine=np.eye(4), orientation="RAS", modality="MR",
                source_format="nifti", metadata={})
    out = domain.normalise(scan)
    assert np.array_equal(out == 0, vol == 0)
    assert np.abs(out - np.asarray(bv.volume[80:100])).max() < 0.02
    np.testing.assert_array_equal(unit_volume(scan), out)  # the volume runner uses it
    ct = _scan("CT_small.dcm")
    assert domain.scan_window(ct) == (40.0, 400.0)


def test_agreement_renaming():
    m = domain.as_agreement({"dice CSF": 0.9, "iou CSF": 0.8, "dice mean": 0.9, "psnr": 30.0})
    assert m == {"label agreement with the U-Net CSF": 0.9, "label IoU with the U-Net CSF": 0.8,
                 "label agreement with the U-Net mean": 0.9, "psnr": 30.0}


def test_cli_prints_the_warning(tmp_path, capsys):
    from pydicom.data import get_testdata_file

    from medgan.cli import main

    out = tmp_path / "res"
    assert main(["synthesize", "--task", "segmentation", "--input", get_testdata_file("MR2_J2KR.dcm"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Out of domain" in printed and "Train tab" in printed
    text = (out / "metrics.csv").read_text()
    assert "in domain,0.0" in text and "domain score" in text


def test_a_fine_tunes_domain_unites_every_stages_randomisation():
    """A model has seen every randomisation family any stage of its training drew, not only its last stage's."""
    chain = ("python -m medgan train --task inpainting --augment --randomise 0.2 --out a && "
             "python -m medgan train --task inpainting --augment --randomise 0.1 --randomise-families deform,gamma "
             "--out b && python -m medgan.training.export b --dest checkpoints")
    card = {"image_size": 256, "training_command": chain}
    dom = domain.card_domain(card)
    assert dom["randomised"]["probability"] == 0.2 and "background" in dom["randomised"]["families"]
    assert "noisy backgrounds" in dom["intensity"]
    last_only = domain.card_domain({"image_size": 256, "training_command": chain.split(" && ", 1)[1]},
                                   data_config={"randomise": 0.1, "randomise_families": ["deform", "gamma"]})
    assert last_only["randomised"]["families"] == ["deform", "gamma"] and "zero background" in last_only["intensity"]
    plain = domain.card_domain({"image_size": 256, "training_command": "python -m medgan train --task synthesis"})
    assert plain["randomised"] is None
