"""The prompt-accuracy classifier: which colour and which shape an image shows.

A small CNN trained (by :mod:`text2d3.priors.train`) on renders of procedural objects held out
from the priors' training set -- never on generated images -- so it can judge samples of the
embedded priors (``bench/priors.py``) and renders of text-to-3D results.

Example:
    >>> clf = load_classifier()
    >>> from text2d3.procedural import ObjectLabel, make_object, random_cameras, render_views
    >>> views = render_views(make_object(ObjectLabel(0, 0), seed=5), random_cameras(4, 32))
    >>> prompt_accuracy(clf, views, ["a red cube"] * 4).both
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from text2d3.priors.base import resize_images
from text2d3.priors.embedded import WEIGHTS_DIR, read_weights_file
from text2d3.procedural import COLOUR_NAMES, SHAPES, parse_prompt

FORMAT = "splat3d-object-classifier/1"


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of an :class:`ObjectClassifier`."""

    resolution: int = 32
    """Input side in pixels (images are resized to it)."""
    width: int = 32
    """Channels of the first convolution (doubled after each pooling)."""


class ObjectClassifier(nn.Module):
    """Images ``[B, H, W, 3]`` in ``[0, 1]`` to colour and shape logits."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                                 nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, w), block(w, 2 * w), block(2 * w, 2 * w),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.colour_head = nn.Linear(2 * w, len(COLOUR_NAMES))
        self.shape_head = nn.Linear(2 * w, len(SHAPES))

    def forward(
        self, images: Float[Tensor, "B H W 3"]
    ) -> tuple[Float[Tensor, "B K_colour"], Float[Tensor, "B K_shape"]]:
        x = resize_images(images.float(), self.config.resolution) * 2 - 1
        h = self.features(x)
        return self.colour_head(h), self.shape_head(h)

    @torch.no_grad()
    def classify(self, images: Float[Tensor, "B H W 3"]) -> Int[Tensor, "B 2"]:
        """Predicted (colour, shape) token ids."""
        colour, shape = self(images)
        return torch.stack([colour.argmax(-1), shape.argmax(-1)], dim=-1)

    def save(self, path: Path, meta: dict | None = None) -> None:
        torch.save({"format": FORMAT, "config": asdict(self.config),
                    "state_dict": self.state_dict(), "meta": meta or {}}, path)

    @classmethod
    def load(cls, path: Path, device: torch.device | str = "cpu") -> ObjectClassifier:
        blob = read_weights_file(path, FORMAT)
        clf = cls(ClassifierConfig(**blob["config"]))
        clf.load_state_dict(blob["state_dict"])
        clf.meta = blob["meta"]
        return clf.to(device).eval().requires_grad_(False)


def load_classifier(
    *, weights_dir: Path = WEIGHTS_DIR, device: torch.device | str = "cpu"
) -> ObjectClassifier:
    """The committed classifier (``classifier.pt`` in ``weights_dir``)."""
    return ObjectClassifier.load(Path(weights_dir) / "classifier.pt", device)


@dataclass(frozen=True)
class Accuracy:
    """Fractions of images whose predicted tokens match the prompt's."""

    colour: float
    """Colour correct."""
    shape: float
    """Shape correct."""
    both: float
    """Colour and shape correct."""
    count: int
    """Number of images."""


def accuracy_of(predicted: Int[Tensor, "B 2"], target: Int[Tensor, "B 2"]) -> Accuracy:
    """Per-slot and joint agreement of two ``[B, 2]`` token tables."""
    hit = predicted.cpu() == target.cpu()
    return Accuracy(hit[:, 0].float().mean().item(), hit[:, 1].float().mean().item(),
                    hit.all(-1).float().mean().item(), int(hit.shape[0]))


def prompt_accuracy(
    classifier: ObjectClassifier, images: Float[Tensor, "B H W 3"], prompts: Sequence[str]
) -> Accuracy:
    """How often ``classifier`` sees the colour and shape each prompt asks for."""
    target = torch.tensor([[lab.colour, lab.shape] for lab in map(parse_prompt, prompts)])
    return accuracy_of(classifier.classify(images.to(next(classifier.parameters()).device)),
                       target)
