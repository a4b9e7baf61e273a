"""viewer: interactive web viewer for splat3d scenes (built on viser)."""
