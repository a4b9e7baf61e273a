"""Error versus NFE of every text2d3.solvers method on the exact Gaussian-mixture testbed, side by
side with the corresponding diffusers schedulers driven by the same exact model on the same grid.

    python bench/solvers.py                    # table + bench/solvers_error_vs_nfe.png
    python bench/solvers.py --no-diffusers     # ours only (also the fallback without diffusers)

Problem: data = a random Gaussian mixture; VP with the DDPM linear ``alphas_cumprod`` (1000 steps)
for the diffusion solvers, rectified flow for the flow solvers. Each run starts from the true
marginal at the noisiest time and is compared with the DOP853 reference endpoint (timestep 0 for
VP, ``t = 0`` for flow). Grid: the "trailing" grid of integer timesteps ``999, ..., ~1000/N - 1``
then timestep 0, which every diffusers scheduler below can be configured to use; the flow grid
is diffusers' ``linspace(1, 1/1000, N)`` then 0. diffusers is imported lazily.
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tyro
from torch import Tensor

from text2d3.solvers import METHODS, RectifiedFlow, VPDiscrete, sample
from text2d3.solvers.testbed import GaussianMixture, rms_error

NUM_TRAIN = 1000


@dataclass(frozen=True)
class BenchConfig:
    """Settings of the solver benchmark."""

    dim: int = 4
    """Data dimension."""
    components: int = 5
    """Mixture components."""
    batch: int = 256
    """Samples per run (the error is the RMS over them)."""
    seed: int = 0
    """Seed of the mixture and of the starting noise."""
    nfe: tuple[int, ...] = (5, 6, 8, 10, 12, 15, 20, 25, 30, 40)
    """NFE budgets swept for the plot; the table shows 5, 10, 20 and 40."""
    diffusers: bool = True
    """Compare with diffusers (skipped with a note when it is not installed)."""
    plot: Path = Path("bench/solvers_error_vs_nfe.png")
    """Where to write the plot (needs matplotlib)."""
    order_steps: tuple[int, ...] = (20, 40, 80, 160)
    """Steps of the logSNR-grid order study of DPM-Solver++(3M)."""


TABLE_NFE = (5, 10, 20, 40)
Runner = Callable[[int], tuple[Tensor, int]]  # steps -> (x_end, nfe)


@dataclass(frozen=True)
class Problem:
    schedule: object
    x_T: Tensor
    reference: Tensor
    model: Callable[[Tensor, Tensor], Tensor]
    prediction: str


def vp_problem(cfg: BenchConfig, mixture: GaussianMixture) -> Problem:
    betas = torch.linspace(1e-4, 0.02, NUM_TRAIN, dtype=torch.float64)
    schedule = VPDiscrete(torch.cumprod(1.0 - betas, 0))
    x_T = mixture.sample_noised(cfg.batch, schedule, 1.0, seed=cfg.seed + 1)
    ref = mixture.flow_map(x_T, schedule, 1.0, schedule.t_min, rtol=1e-11, atol=1e-11)
    return Problem(schedule, x_T, ref, mixture.model(schedule, "eps"), "eps")


def flow_problem(cfg: BenchConfig, mixture: GaussianMixture) -> Problem:
    schedule = RectifiedFlow()
    x_T = mixture.sample_noised(cfg.batch, schedule, 1.0, seed=cfg.seed + 1)
    ref = mixture.flow_map(x_T, schedule, 1.0, 0.0, rtol=1e-11, atol=1e-11)
    return Problem(schedule, x_T, ref, mixture.model(schedule, "flow"), "flow")


def trailing_grid(steps: int) -> Tensor:
    """diffusers' "trailing" timesteps for ``steps`` steps, then timestep 0, as our times."""
    ratio = NUM_TRAIN / steps
    timesteps = np.round(np.arange(NUM_TRAIN, 0, -ratio)).astype(np.int64) - 1
    return torch.tensor([*(timesteps + 1) / NUM_TRAIN, 1.0 / NUM_TRAIN], dtype=torch.float64)


def logsnr_timesteps(schedule: VPDiscrete, points: int) -> np.ndarray:
    """``points`` integer timesteps (decreasing, from 999) of a uniform-logSNR grid that ends one
    step above timestep 0; the solvers then take a last step to timestep 0."""
    ends = torch.tensor([1.0, 2.0 / NUM_TRAIN], dtype=torch.float64)
    lam = torch.linspace(*schedule.lambda_of(ends).tolist(), points, dtype=torch.float64)
    timesteps = schedule.timestep(schedule.t_of_lambda(lam)).round().numpy().astype(np.int64)
    return np.unique(timesteps)[::-1].copy()


def as_grid(timesteps: np.ndarray) -> Tensor:
    """Integer timesteps, then timestep 0, as our continuous times."""
    return torch.tensor([*(timesteps + 1) / NUM_TRAIN, 1.0 / NUM_TRAIN], dtype=torch.float64)


def flow_grid(steps: int) -> Tensor:
    """diffusers' FlowMatch sigmas ``linspace(1, 1/1000, N)`` then 0."""
    sigmas = np.linspace(1.0, 1.0 / NUM_TRAIN, steps)
    return torch.tensor([*sigmas, 0.0], dtype=torch.float64)


def ours(problem: Problem, method: str, options: dict | None = None) -> Runner:
    options = options or {}
    grid_of = flow_grid if problem.prediction == "flow" else trailing_grid

    def run(steps: int) -> tuple[Tensor, int]:
        out = sample(problem.model, problem.x_T, schedule=problem.schedule, steps=steps,
                     method=method, prediction=problem.prediction, grid=grid_of(steps), **options)
        to_data = float(problem.schedule.sigma(grid_of(steps)[-1])) == 0.0
        return out, METHODS[method].nfe(steps, options, to_data)

    return run


def diffusers_runner(
    problem: Problem, make_scheduler: Callable[[], object], timesteps: list[int] | None = None
) -> Runner:
    """Drive a diffusers scheduler with the exact model; ``timesteps`` overrides its grid."""

    def model_at(x: Tensor, timestep: Tensor) -> Tensor:
        if problem.prediction == "flow":
            t = torch.tensor(float(timestep) / NUM_TRAIN, dtype=torch.float64)
        else:
            t = torch.tensor((int(timestep) + 1) / NUM_TRAIN, dtype=torch.float64)
        return problem.model(x, t)

    def run(steps: int) -> tuple[Tensor, int]:
        scheduler = make_scheduler()
        if timesteps is None:
            scheduler.set_timesteps(steps)
        else:
            scheduler.set_timesteps(timesteps=timesteps)
        x = problem.x_T.clone()
        nfe = 0
        for t in scheduler.timesteps:
            scale = getattr(scheduler, "scale_model_input", None)
            out = model_at(x if scale is None else scale(x, t), t)
            nfe += 1
            x = scheduler.step(out, t, x).prev_sample
        return x, nfe

    return run


def ours_like_singlestep(
    problem: Problem, method: str, make_scheduler: Callable[[], object],
    timesteps: list[int] | None = None, spacing: str = "logsnr",
) -> Runner:
    """Ours on the outer grid and per-step orders that diffusers' DPMSolverSinglestep uses for the
    same budget (its order list restarts at 1 at every step); ``steps`` = NFE."""

    def run(budget: int) -> tuple[Tensor, int]:
        scheduler = make_scheduler()
        if timesteps is None:
            scheduler.set_timesteps(budget)
        else:
            scheduler.set_timesteps(timesteps=timesteps)
        fine = scheduler.timesteps.numpy().astype(np.int64)
        starts = [i for i, k in enumerate(scheduler.order_list) if k == 1]
        orders = [b - a for a, b in zip(starts, [*starts[1:], len(fine)], strict=True)]
        out = sample(problem.model, problem.x_T, schedule=problem.schedule, steps=len(orders),
                     method=method, grid=as_grid(fine[starts]), orders=orders, spacing=spacing)
        return out, sum(orders)

    return run


def diffusers_counterparts(vp: Problem, flow: Problem) -> dict[str, tuple[str, dict, Runner]]:
    """diffusers scheduler name -> (our method, our options, runner)."""
    import diffusers as d

    d.utils.logging.set_verbosity_error()
    common = dict(num_train_timesteps=NUM_TRAIN, beta_schedule="linear", beta_start=1e-4,
                  beta_end=0.02, timestep_spacing="trailing")
    deis = dict(common, lower_order_final=False)  # DEIS always ends at alphas_cumprod[0]
    multistep = dict(deis, final_sigmas_type="sigma_min")
    single = dict(multistep)
    del single["timestep_spacing"]  # singlestep: "linspace" spacing only

    def make(cls, **kw):
        return lambda: cls(**kw)

    table = {
        "DDIM": ("ddim", {}, make(d.DDIMScheduler, **common, set_alpha_to_one=False,
                                  clip_sample=False)),
        "PNDM (PLMS)": ("pndm", {"warmup": "lower_order"},
                        make(d.PNDMScheduler, **common, skip_prk_steps=True,
                             set_alpha_to_one=False)),
        "PNDM (F-PNDM)": ("pndm", {"warmup": "rk4"},
                          make(d.PNDMScheduler, **common, skip_prk_steps=False,
                               set_alpha_to_one=False)),
        "DEIS-2 (ours tAB)": ("deis2", {}, make(d.DEISMultistepScheduler, **deis,
                                                 solver_order=2)),
        "DEIS-2 (ours logrho)": ("deis2", {"variable": "logrho"},
                                 make(d.DEISMultistepScheduler, **deis, solver_order=2)),
        "DEIS-3 (ours tAB)": ("deis3", {}, make(d.DEISMultistepScheduler, **deis,
                                                 solver_order=3)),
        "DEIS-3 (ours logrho)": ("deis3", {"variable": "logrho"},
                                 make(d.DEISMultistepScheduler, **deis, solver_order=3)),
        "DPM++2M": ("dpmpp2m", {}, make(d.DPMSolverMultistepScheduler, **multistep,
                                        solver_order=2, algorithm_type="dpmsolver++")),
        "DPM++3M": ("dpmpp3m", {}, make(d.DPMSolverMultistepScheduler, **multistep,
                                        solver_order=3, algorithm_type="dpmsolver++")),
        "DPM-Solver-2 (single)": ("dpmsolver2", {}, make(
            d.DPMSolverSinglestepScheduler, **single, solver_order=2,
            algorithm_type="dpmsolver")),
        "DPM-Solver-3 (single)": ("dpmsolver3", {}, make(
            d.DPMSolverSinglestepScheduler, **single, solver_order=3,
            algorithm_type="dpmsolver")),
        "DPM++2S (single)": ("dpmpp2s", {}, make(
            d.DPMSolverSinglestepScheduler, **single, solver_order=2,
            algorithm_type="dpmsolver++")),
        "UniPC bh1": ("unipc_bh1", {}, make(d.UniPCMultistepScheduler, **multistep,
                                            solver_order=2, solver_type="bh1")),
        "UniPC bh2": ("unipc_bh2", {}, make(d.UniPCMultistepScheduler, **multistep,
                                            solver_order=2, solver_type="bh2")),
    }
    runners = {name: (m, o, diffusers_runner(vp, f)) for name, (m, o, f) in table.items()}
    for name, (m, _, f) in list(table.items()):
        if "single" in name:  # ours follows the same outer grid and order list
            runners[name] = (m, {"like": ours_like_singlestep(vp, m, f)}, runners[name][2])
            runners[f"{name}, ours t-spaced"] = (
                m, {"like": ours_like_singlestep(vp, m, f, spacing="time")}, runners[name][2])
    runners["FlowMatchEuler"] = ("euler", {}, diffusers_runner(
        flow, make(d.FlowMatchEulerDiscreteScheduler, num_train_timesteps=NUM_TRAIN)))
    runners["FlowMatchHeun"] = ("heun", {}, diffusers_runner(
        flow, make(d.FlowMatchHeunDiscreteScheduler, num_train_timesteps=NUM_TRAIN)))
    return runners


def sweep(
    run: Runner, reference: Tensor, budgets: tuple[int, ...], max_steps: int = 60
) -> dict[int, tuple[int, float]]:
    """For each NFE budget the run with the most steps whose NFE fits: budget -> (nfe, error)."""
    results: dict[int, tuple[int, float]] = {}
    cache: dict[int, tuple[int, float]] = {}
    for budget in budgets:
        best = None
        for steps in range(1, max_steps + 1):
            if steps not in cache:
                try:
                    x, nfe = run(steps)
                except (ValueError, IndexError, RuntimeError):
                    continue
                cache[steps] = (nfe, rms_error(x, reference))
            nfe, err = cache[steps]
            if nfe > budget:
                break
            best = (nfe, err)
        if best is not None:
            results[budget] = best
    return results


def run_all(cfg: BenchConfig) -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    mixture = GaussianMixture.random(cfg.dim, cfg.components, seed=cfg.seed)
    t0 = time.perf_counter()
    vp, flow = vp_problem(cfg, mixture), flow_problem(cfg, mixture)
    print(f"references (DOP853, rtol=atol=1e-11): {time.perf_counter() - t0:.1f} s")

    curves: dict[str, dict[int, tuple[int, float]]] = {}
    for method in METHODS:
        problem = flow if method in ("euler", "heun", "midpoint") else vp
        curves[method] = sweep(ours(problem, method), problem.reference, cfg.nfe)

    theirs: dict[str, dict[int, tuple[int, float]]] = {}
    pairs: dict[str, str] = {}
    have = cfg.diffusers and _importable("diffusers")
    if cfg.diffusers and not have:
        print("diffusers is not installed: comparing nothing (pip install 'splat3d[diffusion]')")
    if have:
        for name, (method, options, run) in diffusers_counterparts(vp, flow).items():
            problem = flow if name.startswith("FlowMatch") else vp
            theirs[name] = sweep(run, problem.reference, cfg.nfe)
            if "like" in options:  # singlestep: same outer grid and order list as diffusers
                spaced = "t-spaced" if "t-spaced" in name else "lambda-spaced"
                key = f"{method} (diffusers grid, {spaced})"
                curves[key] = sweep(options["like"], vp.reference, cfg.nfe)
            elif options:
                key = f"{method} ({', '.join(f'{k}={v}' for k, v in options.items())})"
                if key not in curves:
                    curves[key] = sweep(ours(problem, method, options), problem.reference, cfg.nfe)
            else:
                key = method
            pairs[name] = key

    print_tables(curves, theirs, pairs)
    if have:
        logsnr_comparison(vp)
        order_study(cfg, mixture, vp)
    plot(cfg, curves, theirs)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _fmt(cell: tuple[int, float] | None) -> str:
    return "—" if cell is None else f"{cell[1]:.2e} ({cell[0]})"


def print_tables(curves, theirs, pairs) -> None:
    head = "| method | " + " | ".join(f"NFE {n}" for n in TABLE_NFE) + " |"
    rule = "|---" * (len(TABLE_NFE) + 1) + "|"
    print("\nRMS error (actual NFE) of ours, trailing grid (flow: linspace grid)\n")
    print(head)
    print(rule)
    for method, curve in curves.items():
        print(f"| {method} | " + " | ".join(_fmt(curve.get(n)) for n in TABLE_NFE) + " |")
    if not theirs:
        return
    print("\nOurs vs diffusers on the same grid: error ours / error diffusers (NFE ours/theirs)\n")
    print("| diffusers scheduler | ours | " + " | ".join(f"NFE {n}" for n in TABLE_NFE) + " |")
    print("|---" * (len(TABLE_NFE) + 2) + "|")
    for name, curve in theirs.items():
        mine = curves[pairs[name]]
        cells = []
        for n in TABLE_NFE:
            a, b = mine.get(n), curve.get(n)
            if a is None or b is None:
                cells.append(f"{_fmt(a)} / {_fmt(b)}")
            else:
                cells.append(f"{a[1]:.2e} / {b[1]:.2e} ({a[0]}/{b[0]})")
        print(f"| {name} | {pairs[name]} | " + " | ".join(cells) + " |")


def order_study(cfg: BenchConfig, mixture: GaussianMixture, vp: Problem) -> None:
    """DPM-Solver++(2M)/(3M), ours vs diffusers, on a uniform-logSNR grid of integer timesteps."""
    import diffusers as d

    schedule = vp.schedule
    print("\nOrder study: uniform-logSNR grid rounded to integer timesteps, same for both\n")
    print("| solver | " + " | ".join(f"N={n}" for n in cfg.order_steps) + " | fitted order |")
    print("|---" * (len(cfg.order_steps) + 2) + "|")
    for order in (2, 3):
        rows: dict[str, list[tuple[int, float]]] = {"ours": [], "diffusers": []}
        for n in cfg.order_steps:
            timesteps = logsnr_timesteps(schedule, n)
            x = sample(vp.model, vp.x_T, schedule=schedule, steps=len(timesteps),
                       method=f"dpmpp{order}m", grid=as_grid(timesteps))
            rows["ours"].append((len(timesteps), rms_error(x, vp.reference)))
            make = lambda order=order: d.DPMSolverMultistepScheduler(  # noqa: E731
                num_train_timesteps=NUM_TRAIN, beta_schedule="linear", solver_order=order,
                algorithm_type="dpmsolver++", final_sigmas_type="sigma_min",
                lower_order_final=False)
            y, _ = diffusers_runner(vp, make, timesteps.tolist())(len(timesteps))
            rows["diffusers"].append((len(timesteps), rms_error(y, vp.reference)))
        for who, vals in rows.items():
            steps = [v[0] for v in vals]
            errs = [v[1] for v in vals]
            fit = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
            cells = " | ".join(f"{e:.2e}" for e in errs)
            print(f"| DPM++{order}M {who} | {cells} | {fit:.2f} |")


def logsnr_comparison(vp: Problem) -> None:
    """DPM-Solver schedulers that accept explicit timesteps, on the grid they were designed for."""
    import diffusers as d

    schedule = vp.schedule
    base = dict(num_train_timesteps=NUM_TRAIN, beta_schedule="linear", lower_order_final=False,
                final_sigmas_type="sigma_min")
    rows = [  # (name, our method, NFE per step, scheduler class, kwargs)
        ("DPM++2M", "dpmpp2m", 1, d.DPMSolverMultistepScheduler,
         dict(solver_order=2, algorithm_type="dpmsolver++")),
        ("DPM++3M", "dpmpp3m", 1, d.DPMSolverMultistepScheduler,
         dict(solver_order=3, algorithm_type="dpmsolver++")),
        ("DPM-Solver-2 (single)", "dpmsolver2", 2, d.DPMSolverSinglestepScheduler,
         dict(solver_order=2, algorithm_type="dpmsolver")),
        ("DPM-Solver-3 (single)", "dpmsolver3", 3, d.DPMSolverSinglestepScheduler,
         dict(solver_order=3, algorithm_type="dpmsolver")),
        ("DPM++2S (single)", "dpmpp2s", 2, d.DPMSolverSinglestepScheduler,
         dict(solver_order=2, algorithm_type="dpmsolver++")),
    ]
    print("\nSame comparison on a uniform-logSNR grid of integer timesteps (schedulers that "
          "accept explicit timesteps): error ours / error diffusers (NFE)\n")
    print("| diffusers scheduler | ours | " + " | ".join(f"NFE {n}" for n in TABLE_NFE) + " |")
    print("|---" * (len(TABLE_NFE) + 2) + "|")
    for name, method, per_step, cls, kw in rows:
        cells = []
        for budget in TABLE_NFE:
            fine = logsnr_timesteps(schedule, budget)
            make = lambda cls=cls, kw=kw: cls(**base, **kw)  # noqa: E731
            if per_step == 1:
                x = sample(vp.model, vp.x_T, schedule=schedule, steps=len(fine), method=method,
                           grid=as_grid(fine))
                nfe_ours = len(fine)
            else:
                x, nfe_ours = ours_like_singlestep(vp, method, make, fine.tolist())(budget)
            y, nfe = diffusers_runner(vp, make, fine.tolist())(len(fine))
            a, b = rms_error(x, vp.reference), rms_error(y, vp.reference)
            cells.append(f"{a:.2e} / {b:.2e} ({nfe_ours}/{nfe})")
        print(f"| {name} | {method} | " + " | ".join(cells) + " |")


def plot(cfg: BenchConfig, curves, theirs) -> None:
    if not _importable("matplotlib"):
        print("matplotlib is not installed: no plot")
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 9), gridspec_kw={"width_ratios": [2, 1]})
    for ax in axes:
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
    flow_names = {"euler", "heun", "midpoint", "FlowMatchEuler", "FlowMatchHeun"}
    # One curve per diffusers scheduler (rows that differ only in our variant repeat it).
    unique_theirs = {name.split(" (ours")[0].split(", ours")[0]: c for name, c in theirs.items()}
    for series, style in ((curves, "-o"), (unique_theirs, "--x")):
        for name, curve in series.items():
            if not curve:
                continue
            ax = axes[1] if name in flow_names else axes[0]
            pts = sorted(set(curve.values()))
            label = name if style == "-o" else f"diffusers {name}"
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], style, ms=3, lw=1, label=label)
    for ax, title in zip(axes, ("VP (DDPM linear), trailing grid", "Rectified flow"), strict=True):
        ax.set_xlabel("NFE")
        ax.set_ylabel("RMS error vs exact endpoint")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.09))
    fig.tight_layout()
    cfg.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(cfg.plot, dpi=120)
    print(f"\nplot: {cfg.plot}")


if __name__ == "__main__":
    run_all(tyro.cli(BenchConfig))
