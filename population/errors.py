"""The one exception of the population package: a ledger or store that cannot be used; the message names the file."""


class PopulationError(Exception):
    """A run's ledger or git store is not usable as it is (the engine shows it as a one-line error)."""
