"""Stable Diffusion and DeepFloyd IF priors on tiny random diffusers models saved to disk and
loaded back through the same code path as real weights (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers", reason="needs the optional 'diffusion' extra")
pytest.importorskip("transformers", reason="needs the optional 'diffusion' extra")

import diffusers  # noqa: E402
import transformers  # noqa: E402

from text2d3.priors.base import generate, guided_model  # noqa: E402
from text2d3.priors.deepfloyd_if import load_deepfloyd_if  # noqa: E402
from text2d3.priors.load import load_prior  # noqa: E402
from text2d3.priors.stable_diffusion import load_stable_diffusion  # noqa: E402
from text2d3.solvers import DynamicThreshold  # noqa: E402

TOKENS = 8  # tokenizer model_max_length
WIDTH = 16  # text hidden size = cross-attention width


def _save_tokenizer(folder: Path) -> None:
    """A character-level CLIP BPE tokenizer (no merges) over a-z."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    raw = folder / "raw_tokenizer"
    raw.mkdir(parents=True)
    (raw / "vocab.json").write_text(json.dumps(vocab))
    (raw / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(raw / "vocab.json"), str(raw / "merges.txt"),
                                     model_max_length=TOKENS)
    tok.save_pretrained(folder / "tokenizer")


def _unet(in_channels: int, out_channels: int) -> diffusers.UNet2DConditionModel:
    torch.manual_seed(0)
    return diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=out_channels, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=WIDTH,
        attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sd")
    _save_tokenizer(folder)
    _unet(4, 4).save_pretrained(folder / "unet")
    torch.manual_seed(1)
    diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4, sample_size=16).save_pretrained(folder / "vae")
    transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=60, hidden_size=WIDTH, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=TOKENS)).save_pretrained(
        folder / "text_encoder")
    # SD ships a PNDM scheduler config; the loader only reads the training schedule from it.
    diffusers.PNDMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                            prediction_type="epsilon").save_pretrained(folder / "scheduler")
    return folder


@pytest.fixture(scope="module")
def if_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_if")
    _save_tokenizer(folder)
    _unet(3, 6).save_pretrained(folder / "unet")  # eps + learned variance, as IF stage I
    transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=60, d_model=WIDTH, d_kv=4, d_ff=32, num_layers=1, num_heads=2)).save_pretrained(
        folder / "text_encoder")
    diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="learned_range",
                            prediction_type="epsilon").save_pretrained(folder / "scheduler")
    return folder


def test_stable_diffusion_round_trip(sd_folder: Path) -> None:
    prior = load_prior(f"sd:{sd_folder}")
    assert (prior.resolution, prior.downsample, prior.channels, prior.prediction) == (16, 2, 4,
                                                                                      "eps")
    expected = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                       beta_end=0.012).alphas_cumprod.double()
    torch.testing.assert_close(prior.schedule.alphas_cumprod, expected)

    cond = prior.encode_prompt(["a red cube", "a blue torus"], ["", "green"])
    assert cond.positive.shape == cond.negative.shape == (2, TOKENS, WIDTH)
    latents = prior.encode(torch.rand(2, 24, 24, 3))
    assert latents.shape == (2, 4, 8, 8)
    assert prior.decode(latents).shape == (2, 16, 16, 3)

    t = torch.tensor(0.5, dtype=torch.float64)
    direct = prior.unet(latents, torch.full((2,), 499.0), encoder_hidden_states=cond.positive)
    torch.testing.assert_close(prior.predict(latents, t, cond.positive), direct.sample)

    images = generate(prior, ["a red cube"], steps=2, method="ddim", guidance=7.5)
    assert images.shape == (1, 16, 16, 3) and bool(images.isfinite().all())


def test_deepfloyd_if_round_trip(if_folder: Path) -> None:
    prior = load_deepfloyd_if(if_folder)
    assert (prior.resolution, prior.downsample, prior.channels, prior.prediction) == (8, 1, 3,
                                                                                      "eps")
    cond = prior.encode_prompt(["a red cube"])
    x = prior.encode(torch.rand(1, 32, 32, 3))
    assert x.shape == (1, 3, 8, 8) and float(x.abs().max()) <= 1.0
    out = guided_model(prior, cond, 7.0)(x, torch.tensor(0.3, dtype=torch.float64))
    assert out.shape == x.shape  # the learned-variance channels are dropped
    images = generate(prior, ["a red cube"], steps=2, method="dpmpp2m", guidance=20.0,
                      threshold=DynamicThreshold())
    assert images.shape == (1, 8, 8, 3) and bool(images.isfinite().all())


@pytest.mark.parametrize("family", ["sd", "if"])
def test_missing_folder_lists_layout(tmp_path: Path, family: str) -> None:
    (tmp_path / "unet").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_prior(f"{family}:{tmp_path}")
    message = str(err.value)
    assert "scheduler/" in message and "text_encoder/" in message and "tokenizer/" in message
    assert ("vae/" in message) == (family == "sd")
    assert "never downloaded" in message


def test_sd_partial_folder_names_missing_component(sd_folder: Path, tmp_path: Path) -> None:
    for name in ("unet", "scheduler", "tokenizer", "text_encoder"):
        (tmp_path / name).symlink_to(sd_folder / name)
    with pytest.raises(FileNotFoundError, match=r"missing \['vae'\]"):
        load_stable_diffusion(tmp_path)


def test_pickled_weights_are_never_loaded(sd_folder: Path, tmp_path: Path,
                                          malicious_torch_file) -> None:
    """A folder whose UNet comes as a pickled ``.bin`` (code inside) is refused unopened."""
    import shutil

    folder = tmp_path / "sd"
    shutil.copytree(sd_folder, folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    marker = malicious_torch_file(folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(OSError, match="safetensors"):
        load_stable_diffusion(folder)
    assert not marker.exists()
