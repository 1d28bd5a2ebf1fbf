"""Activation functions, and the names by which network nodes refer to them."""

from .registry import FAST_CODES, register_activation, resolve_activation

__all__ = ["resolve_activation", "register_activation", "FAST_CODES"]
