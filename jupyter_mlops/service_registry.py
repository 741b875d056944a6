"""Registry operations of :class:`~jupyter_mlops.service.MlopsService` (publish, models, aliases)."""

from __future__ import annotations


class RegistryOperations:
    """Mixin: every method uses ``self.store`` (Path) and ``self.registry_uri`` (str)."""
