"""Rasterizer internals: projection, tile binning, compositing and the backends."""
