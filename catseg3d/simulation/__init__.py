"""Simulated HAADF-STEM tomography of gamma-alumina/Pt catalysts with exact 3D labels."""

from catseg3d.simulation.dataset import embedded_dataset
from catseg3d.simulation.haadf import HAADF_WEIGHTS, haadf_tilt_series, paper_tilt_angles
from catseg3d.simulation.series import SimulatedFiles, simulate_series, write_simulated_tomogram
from catseg3d.simulation.settings import ImagingParameters
from catseg3d.simulation.specimen import Specimen, SpecimenParameters, simulate_specimen
from catseg3d.simulation.tomogram import SimulatedTomogram, ground_truth_statistics, simulate_tomogram

__all__ = ["HAADF_WEIGHTS", "ImagingParameters", "SimulatedFiles", "SimulatedTomogram", "Specimen", "SpecimenParameters",
           "embedded_dataset", "ground_truth_statistics", "haadf_tilt_series", "paper_tilt_angles", "simulate_series",
           "simulate_specimen", "simulate_tomogram", "write_simulated_tomogram"]
