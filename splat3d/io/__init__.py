"""Gaussian scene files: the standard 3DGS PLY, the compact ``.splat`` export, scene statistics."""

from splat3d.io.ply import PlyFormatError, load_ply, ply_property_names, save_ply
from splat3d.io.splat_format import SplatFormatError, load_splat, save_splat, splat_order
from splat3d.io.stats import GaussianStats, describe_gaussians, first_non_finite, format_description

__all__ = [
    "GaussianStats",
    "PlyFormatError",
    "SplatFormatError",
    "describe_gaussians",
    "first_non_finite",
    "format_description",
    "load_ply",
    "load_splat",
    "ply_property_names",
    "save_ply",
    "save_splat",
    "splat_order",
]
