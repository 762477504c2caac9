"""callscout: cross-selling opportunities from customer calls, found locally."""

__version__ = "0.1.0"
