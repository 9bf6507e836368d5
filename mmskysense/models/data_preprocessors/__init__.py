# Importing registers the data preprocessors into mmskysense.registry.MODELS.
from .change_det_data_preprocessor import ChangeDetDataPreprocessor
from .multimodal_data_preprocessor import MultiModalDataPreprocessor
from .skysense_data_preprocessor import SkySenseDataPreprocessor

__all__ = ['ChangeDetDataPreprocessor', 'SkySenseDataPreprocessor', 'MultiModalDataPreprocessor']
