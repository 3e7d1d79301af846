"""Errors a user can act on. The CLI prints their message without a traceback."""


class MqlmlError(Exception):
    """Base class for errors caused by input or configuration rather than a bug."""


class ConfigError(MqlmlError):
    """The configuration is invalid."""


class DataValidationError(MqlmlError):
    """One or more tables break the data contract; the message lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        header = f"{n} problem{'s' if n != 1 else ''} in the input data:"
        super().__init__("\n".join([header] + [f"  - {p}" for p in self.problems]))


class BundleError(MqlmlError):
    """A model bundle is missing, incomplete, or was written by incompatible library versions."""


class InsufficientDataError(MqlmlError):
    """Too few leads or positives to train or evaluate honestly."""


class RegistryError(MqlmlError):
    """The model registry cannot do what was asked: unknown model, version or alias."""
