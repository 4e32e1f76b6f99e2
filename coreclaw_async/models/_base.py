"""Shared base of the request models."""

from __future__ import annotations


class RequestModel:
    """Marker base of every request body: the converter leaves out fields still at their default."""

    __slots__ = ()
