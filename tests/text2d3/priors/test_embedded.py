"""Embedded priors, classifier and training script on tiny data; the shipped weights when
present."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from text2d3.priors.base import generate, guided_denoised, guided_model
from text2d3.priors.classifier import ObjectClassifier, load_classifier, prompt_accuracy
from text2d3.priors.embedded import WEIGHTS_DIR, EmbeddedConfig, EmbeddedPrior, load_embedded
from text2d3.priors.load import load_prior
from text2d3.priors.train import PRESETS, train_autoencoder, train_classifier, train_prior
from text2d3.priors.unet import UNetConfig
from text2d3.procedural import ObjectLabel, RenderSet, make_object, random_cameras, render_views

SMOKE = PRESETS["smoke"][1]
TINY_UNET = SMOKE.pixel_unet


@pytest.fixture(scope="module")
def tiny_data() -> RenderSet:
    labels = [ObjectLabel(0, 0), ObjectLabel(4, 3)]
    views = [render_views(make_object(lab, seed=i, num_points=200), random_cameras(2, 32, seed=i))
             for i, lab in enumerate(labels)]
    images = torch.cat(views)
    return RenderSet(images, torch.tensor([0, 0, 4, 4]), torch.tensor([0, 0, 3, 3]))


def _pixel_prior() -> EmbeddedPrior:
    torch.manual_seed(0)
    prior = EmbeddedPrior(EmbeddedConfig(TINY_UNET))
    for p in prior.unet.head.parameters():  # the zero-initialised head would hide bugs
        torch.nn.init.normal_(p, std=0.1)
    return prior.eval()


def test_prompt_tokens_and_null_branch() -> None:
    prior = _pixel_prior()
    cond = prior.encode_prompt(["a red cube", "a blue torus"], ["", "a green cone"])
    assert cond.positive.tolist() == [[0, 0], [4, 3]]
    assert cond.negative.tolist() == [[6, 5], [3, 2]]
    assert cond.repeat(2).positive.tolist() == [[0, 0], [0, 0], [4, 3], [4, 3]]
    with pytest.raises(ValueError, match="unknown word 'dog'"):
        prior.encode_prompt(["a red dog"])
    with pytest.raises(ValueError, match="2 prompts but 1 negative"):
        prior.encode_prompt(["a red cube", "a red cone"], [""])


def test_classifier_free_guidance_is_affine_in_the_two_branches() -> None:
    prior = _pixel_prior()
    cond = prior.encode_prompt(["a red cube", "a blue torus"])
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    t = torch.tensor(0.4, dtype=torch.float64)
    with torch.no_grad():
        c, u = prior.predict(x, t, cond.positive), prior.predict(x, t, cond.negative)
        torch.testing.assert_close(guided_model(prior, cond, 4.0)(x, t), u + 4.0 * (c - u))
        torch.testing.assert_close(guided_model(prior, cond, 1.0)(x, t), c)
        d = guided_denoised(prior, x, t, cond, 4.0)
    # The pair is consistent with the schedule: x = alpha x0 + sigma eps.
    alpha, sigma = prior.schedule.alpha(t), prior.schedule.sigma(t)
    torch.testing.assert_close(alpha * d.x0 + sigma * d.eps, x)


def test_pixel_encode_decode_round_trip() -> None:
    prior = _pixel_prior()
    images = torch.rand(2, 32, 32, 3)
    x = prior.encode(images)
    assert x.shape == (2, 3, 32, 32) and float(x.min()) >= -1
    torch.testing.assert_close(prior.decode(x), images)
    assert prior.encode(torch.rand(1, 64, 64, 3)).shape == (1, 3, 32, 32)


def test_training_pieces_save_load_and_sample(tiny_data: RenderSet, tmp_path: Path) -> None:
    config = replace(SMOKE, out_dir=tmp_path)
    prior = train_prior(config, EmbeddedPrior(EmbeddedConfig(TINY_UNET)), tiny_data,
                        config.pixel, "pixel")
    prior.save(tmp_path / "pixel.pt", {"steps": 3})
    ae = train_autoencoder(config, tiny_data)
    latent = EmbeddedPrior(EmbeddedConfig(config.latent_unet, 32, config.autoencoder))
    latent.autoencoder.load_state_dict(ae.state_dict())
    latent = train_prior(config, latent, tiny_data, config.latent, "latent")
    latent.save(tmp_path / "latent.pt")
    clf, facts = train_classifier(config, tiny_data, tiny_data)
    clf.save(tmp_path / "classifier.pt", facts)

    for kind, side in (("pixel", 32), ("latent", 8)):
        original = prior if kind == "pixel" else latent
        loaded = load_embedded(kind, weights_dir=tmp_path)
        x = torch.randn(2, original.channels, side, side)
        tokens = loaded.encode_prompt(["a red cube", "a blue torus"]).positive
        t = torch.tensor([0.2, 0.7], dtype=torch.float64)
        with torch.no_grad():  # weights are stored in half precision
            torch.testing.assert_close(loaded.predict(x, t, tokens),
                                       original.predict(x, t, tokens), atol=2e-2, rtol=2e-2)
        images = generate(loaded, ["a red cube", "a blue torus"], steps=3, method="dpmpp2m")
        assert images.shape == (2, 32, 32, 3) and bool(images.isfinite().all())
    assert load_embedded("pixel", weights_dir=tmp_path).meta == {"steps": 3}
    clf = load_classifier(weights_dir=tmp_path)
    assert isinstance(clf, ObjectClassifier)
    assert 0.0 <= prompt_accuracy(clf, tiny_data.images, ["a red cube"] * 4).both <= 1.0


def test_missing_weights_and_unknown_spec(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="text2d3.priors.train full"):
        load_embedded("pixel", weights_dir=tmp_path)
    (tmp_path / "pixel.pt").write_bytes(b"")
    torch.save({"format": "other"}, tmp_path / "pixel.pt")
    with pytest.raises(ValueError, match="expected format 'splat3d-embedded-prior/1'"):
        load_embedded("pixel", weights_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown prior 'sd'"):
        load_prior("sd")


def test_unet_patch_folding_keeps_shapes() -> None:
    config = UNetConfig(in_channels=4, base_channels=8, channel_mults=(1, 2), embed_dim=16,
                        patch=2)
    from text2d3.priors.unet import UNet

    out = UNet(config)(torch.randn(3, 4, 16, 16), torch.rand(3) * 1000, torch.zeros(3, 16))
    assert out.shape == (3, 4, 16, 16)


needs_weights = pytest.mark.skipif(
    not all((WEIGHTS_DIR / f"{n}.pt").is_file() for n in ("pixel", "latent", "classifier")),
    reason="shipped weights absent (python -m text2d3.priors.train full)")


@needs_weights
def test_shipped_weights_size_and_classifier_on_renders() -> None:
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.pt"))
    assert total <= 20 * 2**20
    clf = load_classifier()
    views = render_views(make_object(ObjectLabel(4, 3), seed=123), random_cameras(8, 32, seed=9))
    assert prompt_accuracy(clf, views, ["a blue torus"] * 8).both >= 0.75


@needs_weights
@pytest.mark.parametrize("kind", ["pixel", "latent"])
def test_shipped_priors_follow_the_prompt(kind: str) -> None:
    prompts = ["a red cube", "a blue sphere", "a green cone", "a yellow torus",
               "a purple cylinder", "an orange cube"]
    images = generate(load_embedded(kind), prompts, steps=10, method="dpmpp2m", guidance=3.0)
    assert prompt_accuracy(load_classifier(), images, prompts).colour >= 0.8


@needs_weights
def test_sample_command_writes_pngs(tmp_path: Path) -> None:
    from PIL import Image

    from text2d3.priors.cli import sample_image

    paths = sample_image("a red cube", tmp_path / "cube.png", steps=4, num=2, size=64)
    assert [p.name for p in paths] == ["cube_0.png", "cube_1.png"]
    assert Image.open(paths[0]).size == (64, 64)


def test_weights_file_with_code_is_refused_without_running(tmp_path, malicious_torch_file):
    marker = malicious_torch_file(tmp_path / "pixel.pt", {"format": "splat3d-embedded-prior/1"})
    with pytest.raises(ValueError, match="pixel.pt: refused"):
        load_embedded("pixel", weights_dir=tmp_path)
    assert not marker.exists()
