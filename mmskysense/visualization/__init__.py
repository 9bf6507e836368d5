"""Pictures of results: previews of class maps."""

from .preview import write_preview

__all__ = ['write_preview']
