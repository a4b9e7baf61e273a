"""``splat3d detect bench``: the synthetic indoor benchmark of 3DGS-DET from the command line.

The coordinator wires :class:`DetectBench` into ``splat3d/cli.py`` as a tyro subcommand.

Example:
    >>> DetectBench(size="small", output=Path("/tmp/bench")).run()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from detection.synthetic.benchmark import BenchConfig, run_seeds


@dataclass(frozen=True)
class DetectBench:
    """Run the synthetic indoor benchmark (basic -> + boundary guidance -> + box-focused
    sampling) and print the ablation table; results go to OUTPUT/seed_<S>/results.json."""

    seed: int = 0
    """First seed (rooms and detector initialisation)."""
    seeds: int = 1
    """Number of consecutive seeds to run, starting at ``seed``."""
    rooms: int | None = None
    """Rooms per seed, train + held-out (the last quarter); default: the size's count."""
    size: Literal["small", "default"] = "default"
    """``small``: a plumbing check in seconds; ``default``: the BENCHMARKS.md run."""
    output: Path = Path("outputs/detect_bench")
    """Output folder; an interrupted run resumes from what is there."""
    threads: int = 1
    """Torch CPU threads."""
    progress: bool = True
    """Show the detector training progress bar."""

    def run(self) -> None:
        """Run the benchmark for every seed and print the table."""
        run_seeds(BenchConfig(seed=self.seed, rooms=self.rooms, size=self.size,
                              output=self.output, threads=self.threads,
                              progress=self.progress), num_seeds=self.seeds)
