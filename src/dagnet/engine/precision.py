"""Which lower precision ``torch.autocast`` asks of the engine on a device, if any."""

from __future__ import annotations

import torch

__all__ = ["HALF_DTYPES", "autocast_dtype"]

HALF_DTYPES = (torch.float16, torch.bfloat16)


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """Return float16 or bfloat16 when ``torch.autocast`` is on for ``device_type`` with that dtype, else None.

    Examples
    --------
    >>> autocast_dtype("cpu") is None
    True
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     autocast_dtype("cpu")
    torch.bfloat16
    """
    try:
        enabled = torch.is_autocast_enabled(device_type)
        dtype = torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):  # torch before 2.4: per-device functions
        if device_type == "cpu":
            enabled, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
        else:
            enabled, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
    return dtype if enabled and dtype in HALF_DTYPES else None
