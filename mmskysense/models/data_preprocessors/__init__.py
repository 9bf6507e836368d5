# Importing registers the data preprocessors into mmskysense.registry.MODELS.
from .skysense_data_preprocessor import SkySenseDataPreprocessor

__all__ = ['SkySenseDataPreprocessor']
