"""Fitting the morphable model to photos and video: landmarks, photometric refinement, tracking."""
from .batch import (RESIDUAL_THRESHOLD, FitDiagnostics, FitResult, Fitter, fit_image,  # noqa: F401
                    fit_images)
from .landmark_fit import LandmarkFitConfig, LandmarkFitter  # noqa: F401
from .photometric import PhotometricConfig, PhotometricRefiner  # noqa: F401
