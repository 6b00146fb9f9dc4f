"""deepres: local resolution of cryo-EM density maps with a 3D neural network.

A modern reimplementation of Xmipp's DeepRes ("local deepRes" in Scipion).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("deepres")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from deepres.errors import DeepResError, InputError  # noqa: E402
from deepres.ranges import RANGES, RangeSpec, get_range  # noqa: E402
from deepres.volume import Volume  # noqa: E402


def __getattr__(name):  # lazy: keep `import deepres` light (no torch until needed)
    if name in ("estimate", "LocalResolution", "estimate_files"):
        from deepres import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'deepres' has no attribute {name!r}")


__all__ = [
    "__version__",
    "DeepResError",
    "InputError",
    "RANGES",
    "RangeSpec",
    "get_range",
    "Volume",
    "estimate",
    "estimate_files",
    "LocalResolution",
]
