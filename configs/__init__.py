"""Named configuration presets for the splat3d CLI, kept in explicit tables."""
