"""Moved to morphable.raster (a general 3DMM rasterizer); this name stays until rig.sources imports it there."""
from morphable.raster import MAX_BOX_PIXELS, Raster, interpolate, rasterize  # noqa: F401
