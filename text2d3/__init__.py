"""text2d3: text-to-3D on the splat3d core (diffusion priors, ODE solvers, score distillation)."""
