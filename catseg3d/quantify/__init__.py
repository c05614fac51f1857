"""Quantification of label volumes in physical units: particles, support surfaces, pores."""

from catseg3d.quantify.meshes import class_mesh, write_mesh
from catseg3d.quantify.particles import Particle, equivalent_diameter, measure_particles
from catseg3d.quantify.report import quantify_labels, write_quantification
from catseg3d.quantify.support import measure_support, surface_area

__all__ = ["Particle", "class_mesh", "equivalent_diameter", "measure_particles", "measure_support", "quantify_labels",
           "surface_area", "write_mesh", "write_quantification"]
