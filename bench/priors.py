"""Prompt accuracy of the embedded priors per solver, step count and guidance scale.

For every caption of the procedural vocabulary (6 colours x 5 shapes) the prior samples
``per_caption`` images; the shipped classifier (trained on held-out renders, never on generated
images) reads colour and shape back. Reported: colour / shape / both accuracy, model
evaluations (NFE, classifier-free guidance doubles them) and the median wall time of the
sampling over ``repeats`` runs.

    python bench/priors.py                       # the table recorded in BENCHMARKS.md
    python bench/priors.py --per-caption 1 --priors pixel --methods ddim --steps 5
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass

import torch
import tyro

from text2d3.priors.base import generate
from text2d3.priors.classifier import load_classifier, prompt_accuracy
from text2d3.priors.embedded import load_embedded
from text2d3.procedural import all_labels
from text2d3.solvers import METHODS


@dataclass(frozen=True)
class BenchConfig:
    """What to sample."""

    priors: tuple[str, ...] = ("pixel", "latent")
    """Embedded priors to measure."""
    methods: tuple[str, ...] = ("ddim", "dpmpp2m", "unipc_bh2", "heun")
    """Solvers (keys of ``text2d3.solvers.METHODS``)."""
    steps: tuple[int, ...] = (5, 10, 20)
    """Solver step counts."""
    guidance: float = 3.0
    """Guidance scale of the solver sweep."""
    guidance_sweep: tuple[float, ...] = (1.0, 3.0, 7.5)
    """Guidance scales measured with ``dpmpp2m`` at 10 steps."""
    per_caption: int = 4
    """Samples per caption (30 captions)."""
    seed: int = 0
    """Seed of the starting noise."""
    repeats: int = 3
    """Timed runs per row; the median is reported (samples are identical: same seed)."""
    threads: int = 1
    """torch CPU threads (one is fastest on a shared machine; see ``TrainConfig.threads``)."""


def _row(prior_name: str, prior, clf, prompts: list[str], method: str, steps: int,
         guidance: float, seed: int, repeats: int) -> str:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        images = generate(prior, prompts, steps=steps, method=method, guidance=guidance,
                          seed=seed)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    acc = prompt_accuracy(clf, images, prompts)
    nfe = METHODS[method].nfe(steps, {}) * (1 if guidance == 1.0 else 2)
    return (f"| {prior_name} | {method} | {steps} | {guidance:g} | {nfe} | {acc.colour:.3f} | "
            f"{acc.shape:.3f} | {acc.both:.3f} | {seconds:.1f} |")


def main(config: BenchConfig) -> None:
    torch.set_num_threads(config.threads)
    clf = load_classifier()
    prompts = [lab.caption for lab in all_labels() for _ in range(config.per_caption)]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{config.threads} threads; {len(prompts)} samples per row, median of "
          f"{config.repeats} timed runs")
    print(f"classifier on held-out renders: {clf.meta.get('test_accuracy')}")
    print("| prior | method | steps | guidance | NFE | colour | shape | both | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in config.priors:
        prior = load_embedded(name)
        runs = [(m, s, config.guidance) for m in config.methods for s in config.steps]
        runs += [("dpmpp2m", 10, g) for g in config.guidance_sweep if g != config.guidance]
        for method, steps, guidance in runs:
            print(_row(name, prior, clf, prompts, method, steps, guidance, config.seed,
                       config.repeats), flush=True)


if __name__ == "__main__":
    main(tyro.cli(BenchConfig))
