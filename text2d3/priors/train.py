"""Train the embedded priors and the prompt-accuracy classifier from procedural renders.

``python -m text2d3.priors.train full`` rebuilds ``text2d3/priors/weights/`` (``classifier.pt``,
``pixel.pt``, ``latent.pt``) from scratch: it renders the multi-view data sets with our
rasterizer (:func:`text2d3.procedural.render_dataset`), then trains

1. the classifier on renders held out from the priors' data (different objects and cameras);
2. the pixel prior: DDPM training (Ho et al. 2020, Alg. 1) with the ``v`` target
   (Salimans & Ho 2022), the cosine schedule, and conditioning dropout for classifier-free
   guidance (Ho & Salimans 2022, Sec. 3.2);
3. the autoencoder, then the latent prior on its latents (Rombach et al. 2022).

Presets are in :data:`PRESETS` (``full`` for the committed weights, ``smoke`` for tests); any
field can be overridden on the command line, e.g. ``full --pixel.steps 500``. Everything is
seeded; on a shared 2-core CPU ``full`` took 17 minutes plus 1.5 to 10 for the renders.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from splat3d.tensorfile import load_tensor_file
from text2d3.priors.autoencoder import Autoencoder, AutoencoderConfig
from text2d3.priors.classifier import ClassifierConfig, ObjectClassifier, accuracy_of
from text2d3.priors.embedded import WEIGHTS_DIR, EmbeddedConfig, EmbeddedPrior
from text2d3.priors.unet import UNetConfig
from text2d3.procedural import RenderSet, render_dataset


@dataclass(frozen=True)
class DataConfig:
    """A render set: every (colour, shape) pair times objects times views."""

    objects_per_label: int = 10
    """Random objects (pose, size, tint) per (colour, shape) pair."""
    views_per_object: int = 16
    """Random cameras per object."""
    resolution: int = 32
    """Image side in pixels."""
    seed: int = 0
    """Render seed; different seeds give disjoint objects and cameras."""


@dataclass(frozen=True)
class OptimConfig:
    """One network's optimisation: Adam, linear warm-up then cosine decay, weight EMA."""

    steps: int = 1000
    """Optimiser steps."""
    batch_size: int = 32
    """Images per step."""
    lr: float = 1.5e-3
    """Peak learning rate."""
    warmup: int = 50
    """Linear warm-up steps."""
    ema_decay: float = 0.995
    """Decay of the exponential moving average of the weights that is saved (0 = none)."""
    seed: int = 0
    """Seed for batches, noise and dropout."""


@dataclass(frozen=True)
class TrainConfig:
    """Data, networks and optimisation of the embedded weights."""

    out_dir: Path = WEIGHTS_DIR
    """Where ``classifier.pt``, ``pixel.pt`` and ``latent.pt`` are written."""
    cache_dir: Path | None = None
    """Optional folder caching the render sets between runs (they are deterministic)."""
    parts: tuple[str, ...] = ("classifier", "pixel", "latent")
    """Which weights to train."""
    prior_data: DataConfig = field(default_factory=DataConfig)
    """Renders the priors learn from."""
    classifier_data: DataConfig = DataConfig(objects_per_label=4, views_per_object=8, seed=1)
    """Held-out renders the classifier learns from."""
    classifier_test: DataConfig = DataConfig(objects_per_label=2, views_per_object=8, seed=2)
    """Held-out renders the classifier is scored on."""
    pixel_unet: UNetConfig = UNetConfig(in_channels=3, base_channels=32, patch=2)
    """The pixel prior's denoiser."""
    latent_unet: UNetConfig = UNetConfig(in_channels=4, base_channels=64, channel_mults=(1, 2))
    """The latent prior's denoiser."""
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    """The latent prior's first stage."""
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    """The classifier."""
    pixel: OptimConfig = OptimConfig(steps=3000)
    """Pixel-prior optimisation."""
    latent: OptimConfig = OptimConfig(steps=2500)
    """Latent-prior optimisation."""
    autoencoder_optim: OptimConfig = OptimConfig(steps=800, lr=1e-3, ema_decay=0.0)
    """Autoencoder optimisation."""
    classifier_optim: OptimConfig = OptimConfig(steps=400, lr=2e-3, ema_decay=0.0)
    """Classifier optimisation."""
    cond_dropout: float = 0.15
    """Probability of replacing a caption by the null tokens (classifier-free guidance)."""
    latent_penalty: float = 1e-3
    """Weight of the L2 penalty on the autoencoder's latents."""
    threads: int = 1
    """torch CPU threads. One is fastest on a shared machine: with more, every small op waits
    at a barrier for a thread the OS has descheduled (measured 6.5 s vs 0.1 s per latent step
    at a load of 6 on 2 cores)."""


_SMOKE_DATA = DataConfig(objects_per_label=1, views_per_object=2, seed=0)
_SMOKE_OPTIM = OptimConfig(steps=3, batch_size=8, warmup=1, ema_decay=0.5)
PRESETS: dict[str, tuple[str, TrainConfig]] = {
    "full": ("The committed weights (about 20 minutes on 2 shared CPU cores).", TrainConfig()),
    "smoke": ("Seconds-long run of every stage on tiny data (tests).", TrainConfig(
        prior_data=_SMOKE_DATA,
        classifier_data=replace(_SMOKE_DATA, seed=1),
        classifier_test=replace(_SMOKE_DATA, seed=2),
        pixel_unet=UNetConfig(in_channels=3, base_channels=8, channel_mults=(1, 2), embed_dim=16,
                              patch=2),
        latent_unet=UNetConfig(in_channels=4, base_channels=8, channel_mults=(1, 2),
                               embed_dim=16),
        autoencoder=AutoencoderConfig(width=8),
        classifier=ClassifierConfig(width=8),
        pixel=_SMOKE_OPTIM, latent=_SMOKE_OPTIM, autoencoder_optim=_SMOKE_OPTIM,
        classifier_optim=_SMOKE_OPTIM)),
}
"""Named configurations: ``name -> (description, config)``."""


# ---------------------------------------------------------------------- data
def cached_renders(data: DataConfig, cache_dir: Path | None) -> RenderSet:
    """:func:`render_dataset` for ``data``, stored as 8-bit images (also when not cached, so a
    cached and an uncached run see the same pixels)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / (f"renders_o{data.objects_per_label}_v{data.views_per_object}"
                                  f"_r{data.resolution}_s{data.seed}.pt")
    if path is not None and path.is_file():
        blob = load_tensor_file(path, "render cache")
    else:
        rs = render_dataset(data.objects_per_label, data.views_per_object, data.resolution,
                            seed=data.seed)
        blob = {"images": (rs.images * 255).round().to(torch.uint8), "colours": rs.colours,
                "shapes": rs.shapes}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(blob, path)
    return RenderSet(blob["images"].float() / 255, blob["colours"], blob["shapes"])


def _batch(n: int, size: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random indices and random horizontal-flip flags (mirrored objects are plausible)."""
    return torch.randint(0, n, (size,), generator=g), torch.rand(size, generator=g) < 0.5


def _flip(x: Tensor, flags: Tensor, dim: int) -> Tensor:
    return torch.where(flags.reshape(-1, *[1] * (x.ndim - 1)), x.flip(dim), x)


# ---------------------------------------------------------------------- optimisation
class _Trainer:
    """Adam with warm-up + cosine decay and an optional EMA copy of the module."""

    def __init__(self, module: nn.Module, optim: OptimConfig) -> None:
        self.module, self.optim = module, optim
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=optim.lr)
        self.ema = copy.deepcopy(module).requires_grad_(False) if optim.ema_decay > 0 else None
        self.step_count = 0

    def step(self, loss: Tensor) -> None:
        o = self.optim
        warm = min(1.0, (self.step_count + 1) / max(o.warmup, 1))
        decay = 0.5 * (1 + math.cos(math.pi * self.step_count / max(o.steps, 1)))
        for group in self.opt.param_groups:
            group["lr"] = o.lr * warm * decay
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.step_count += 1
        if self.ema is not None:
            with torch.no_grad():
                for e, p in zip(self.ema.state_dict().values(), self.module.state_dict().values(),
                                strict=True):
                    if e.is_floating_point():
                        e.lerp_(p, 1 - o.ema_decay)
                    else:
                        e.copy_(p)

    @property
    def result(self) -> nn.Module:
        return (self.ema if self.ema is not None else self.module).eval()


def _log(name: str, step: int, total: int, loss: float, start: float) -> None:
    if step == total - 1 or step % max(total // 10, 1) == 0:
        print(f"[{name}] step {step + 1}/{total} loss {loss:.4f} ({time.time() - start:.0f} s)",
              flush=True)


def train_classifier(
    config: TrainConfig, train: RenderSet, test: RenderSet
) -> tuple[ObjectClassifier, dict]:
    """Cross-entropy on both heads with flips and small brightness jitter."""
    o = config.classifier_optim
    g = torch.Generator().manual_seed(o.seed)
    torch.manual_seed(o.seed)
    clf = ObjectClassifier(config.classifier)
    trainer = _Trainer(clf, o)
    start = time.time()
    for step in range(o.steps):
        idx, flips = _batch(len(train.images), o.batch_size, g)
        gain = 0.9 + 0.2 * torch.rand(len(idx), 1, 1, 1, generator=g)
        images = (_flip(train.images[idx], flips, 2) * gain).clamp(0, 1)
        colour, shape = clf(images)
        loss = (nn.functional.cross_entropy(colour, train.colours[idx])
                + nn.functional.cross_entropy(shape, train.shapes[idx]))
        trainer.step(loss)
        _log("classifier", step, o.steps, loss.item(), start)
    clf = trainer.result
    acc = accuracy_of(clf.classify(test.images), torch.stack([test.colours, test.shapes], -1))
    print(f"[classifier] held-out accuracy: {acc}", flush=True)
    return clf, {"test_accuracy": asdict(acc), "seconds": time.time() - start}


def train_autoencoder(config: TrainConfig, data: RenderSet) -> Autoencoder:
    """L2 reconstruction plus a small latent penalty; sets ``latent_scale`` to 1/std."""
    o = config.autoencoder_optim
    g = torch.Generator().manual_seed(o.seed)
    torch.manual_seed(o.seed)
    ae = Autoencoder(config.autoencoder)
    trainer = _Trainer(ae, o)
    images = data.images.permute(0, 3, 1, 2) * 2 - 1  # [N, 3, H, W] in [-1, 1]
    start = time.time()
    for step in range(o.steps):
        idx, flips = _batch(len(images), o.batch_size, g)
        x = _flip(images[idx], flips, 3)
        z = ae.encoder(x)
        loss = (ae.decoder(z) - x).square().mean() + config.latent_penalty * z.square().mean()
        trainer.step(loss)
        _log("autoencoder", step, o.steps, loss.item(), start)
    ae = trainer.result
    with torch.no_grad():
        ae.latent_scale.fill_(1.0 / ae.encoder(images).std().item())
    return ae


def train_prior(
    config: TrainConfig, prior: EmbeddedPrior, data: RenderSet, optim: OptimConfig, name: str
) -> EmbeddedPrior:
    """DDPM training with the ``v`` target on the cosine schedule and caption dropout."""
    g = torch.Generator().manual_seed(optim.seed)
    torch.manual_seed(optim.seed)
    with torch.no_grad():  # model-space data, both orientations, encoded once
        x_all = torch.cat([prior.encode(data.images), prior.encode(data.images.flip(2))])
    tokens_all = torch.stack([data.colours, data.shapes], -1).repeat(2, 1)
    if prior.autoencoder is not None:
        prior.autoencoder.requires_grad_(False)
    trainer = _Trainer(prior, optim)
    s = prior.schedule
    start = time.time()
    for step in range(optim.steps):
        idx = torch.randint(0, len(x_all), (optim.batch_size,), generator=g)
        x0, tokens = x_all[idx], tokens_all[idx].clone()
        drop = torch.rand(len(idx), generator=g) < config.cond_dropout
        tokens[drop] = EmbeddedPrior.null_tokens(int(drop.sum()))
        t = s.t_min + (s.t_max - s.t_min) * torch.rand(len(idx), generator=g, dtype=torch.float64)
        alpha = s.alpha(t).float()[:, None, None, None]
        sigma = s.sigma(t).float()[:, None, None, None]
        eps = torch.randn(x0.shape, generator=g)
        v = alpha * eps - sigma * x0
        loss = (prior.predict(alpha * x0 + sigma * eps, t, tokens) - v).square().mean()
        trainer.step(loss)
        _log(name, step, optim.steps, loss.item(), start)
    return trainer.result


def run(config: TrainConfig) -> dict:
    """Train the requested parts into ``config.out_dir``; returns the facts it recorded."""
    torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    start = time.time()
    if "classifier" in config.parts:
        clf, facts = train_classifier(config, cached_renders(config.classifier_data,
                                                             config.cache_dir),
                                      cached_renders(config.classifier_test, config.cache_dir))
        clf.save(out / "classifier.pt", {**facts, "data": asdict(config.classifier_data)})
        report["classifier"] = facts
    if {"pixel", "latent"} & set(config.parts):
        data = cached_renders(config.prior_data, config.cache_dir)
    if "pixel" in config.parts:
        t0 = time.time()
        prior = EmbeddedPrior(EmbeddedConfig(config.pixel_unet, config.prior_data.resolution))
        prior = train_prior(config, prior, data, config.pixel, "pixel")
        report["pixel"] = {"seconds": time.time() - t0, "steps": config.pixel.steps}
        prior.save(out / "pixel.pt", {**report["pixel"], "data": asdict(config.prior_data)})
    if "latent" in config.parts:
        t0 = time.time()
        ae = train_autoencoder(config, data)
        prior = EmbeddedPrior(EmbeddedConfig(config.latent_unet, config.prior_data.resolution,
                                             config.autoencoder))
        prior.autoencoder.load_state_dict(ae.state_dict())
        prior = train_prior(config, prior, data, config.latent, "latent")
        report["latent"] = {"seconds": time.time() - t0, "steps": config.latent.steps}
        prior.save(out / "latent.pt", {**report["latent"], "data": asdict(config.prior_data)})
    report["total_seconds"] = time.time() - start
    print(f"done in {report['total_seconds']:.0f} s -> {out}", flush=True)
    return report


def main() -> None:
    import tyro

    config = tyro.extras.overridable_config_cli(PRESETS)
    run(config)


if __name__ == "__main__":
    main()
