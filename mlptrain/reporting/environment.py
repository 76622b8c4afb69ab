"""What a run ran on: versions of what computed it, the BLAS, the machine (report.json's
``environment``). Together with the resolved config and the data fingerprint it says what
would have to match to reproduce the run's numbers bit for bit."""

from __future__ import annotations

import os
import platform
from typing import Any


def environment(version: str) -> dict[str, Any]:
    import numpy as np
    import sklearn
    from threadpoolctl import threadpool_info

    blas = [
        f"{lib.get('internal_api')} {lib.get('version') or ''} ({lib.get('num_threads')} threads)"
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    return {
        "mlptrain": version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "blas": "; ".join(b.replace("  ", " ") for b in blas) or "none found",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
