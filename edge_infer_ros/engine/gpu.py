"""What the machine offers to the GPU providers, asked through ctypes only.

No pynvml, nvidia-smi or pycuda: the CUDA runtime and TensorRT libraries themselves answer (when
they load), so the same code runs on a desktop GPU, on Jetson and on a machine without either.
Everything here degrades to ``None``/empty answers instead of raising.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
import importlib.metadata
import importlib.util
from pathlib import Path

import onnxruntime as ort

__all__ = [
    'GpuInfo',
    'cuda_mem_info',
    'diagnose_provider',
    'gpu_info',
    'is_jetson',
    'provider_problem',
    'tensorrt_version',
]

TEGRA_RELEASE = Path('/etc/nv_tegra_release')
DEVICE_TREE_MODEL = Path('/proc/device-tree/model')

_CUDART_NAMES = ('libcudart.so', 'libcudart.so.13', 'libcudart.so.12', 'libcudart.so.11.0')
_NVINFER_NAMES = ('libnvinfer.so', 'libnvinfer.so.10', 'libnvinfer.so.8')
_CUDNN_NAMES = ('libcudnn.so', 'libcudnn.so.9', 'libcudnn.so.8')
_CUDA_ERRORS = {
    35: 'the NVIDIA driver is older than this CUDA runtime (version mismatch)',
    100: 'no CUDA-capable GPU was found',
    999: 'the CUDA driver reported an unknown error',
}
_cudart: ctypes.CDLL | None | bool = False  # False: not tried yet


@dataclass(frozen=True)
class GpuInfo:
    """The CUDA device as far as it matters for engine compatibility."""

    name: str
    compute_capability: str


def _load(
    names: tuple[str, ...], extra_dirs: tuple[Path, ...] = ()
) -> tuple[ctypes.CDLL | None, str]:
    """Load the first library that works; return it, or None and the last loader error."""
    error = 'not found'
    candidates = [str(d / n) for d in extra_dirs for n in names] + list(names)
    for name in candidates:
        try:
            return ctypes.CDLL(name), ''
        except OSError as err:
            if '/' not in name or Path(name).exists():
                error = str(err)
    return None, error


def _package_dirs(*modules: str) -> tuple[Path, ...]:
    """Library folders of pip-installed NVIDIA wheels (nvidia.cuda_runtime, tensorrt_libs...)."""
    dirs = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.extend([Path(location), Path(location) / 'lib'])
    return tuple(dirs)


def _runtime() -> ctypes.CDLL | None:
    global _cudart
    if _cudart is False:
        _cudart, _ = _load(_CUDART_NAMES, _package_dirs('nvidia.cuda_runtime'))
    return _cudart if isinstance(_cudart, ctypes.CDLL) else None


def _device_count() -> tuple[int, str]:
    lib = _runtime()
    if lib is None:
        return 0, 'the CUDA runtime (libcudart) cannot be loaded'
    count = ctypes.c_int(0)
    code = lib.cudaGetDeviceCount(ctypes.byref(count))
    if code != 0:
        return 0, _CUDA_ERRORS.get(code, f'cudaGetDeviceCount failed with error {code}')
    return count.value, ''


def gpu_info(device_id: int) -> GpuInfo | None:
    """Name and compute capability of a CUDA device, or None when CUDA cannot tell."""
    lib = _runtime()
    count, _ = _device_count()
    if lib is None or device_id >= count:
        return None
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cudaDeviceGetAttribute(ctypes.byref(major), 75, device_id)  # ComputeCapabilityMajor
    lib.cudaDeviceGetAttribute(ctypes.byref(minor), 76, device_id)  # ComputeCapabilityMinor
    props = ctypes.create_string_buffer(8192)  # cudaDeviceProp starts with char name[256]
    name = ''
    for symbol in ('cudaGetDeviceProperties_v2', 'cudaGetDeviceProperties'):
        func = getattr(lib, symbol, None)
        if func is not None and func(props, device_id) == 0:
            name = props.raw[:256].split(b'\0', 1)[0].decode(errors='replace')
            break
    return GpuInfo(name or 'unknown', f'{major.value}.{minor.value}')


def cuda_mem_info(device_id: int) -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device via ``cudaMemGetInfo``, or None."""
    lib = _runtime()
    count, _ = _device_count()
    if lib is None or device_id >= count or lib.cudaSetDevice(device_id) != 0:
        return None
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    if lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) != 0:
        return None
    return free.value, total.value


def tensorrt_version() -> str:
    """Version of the TensorRT library the TensorRT provider would load, or 'none'."""
    lib, _ = _load(_NVINFER_NAMES, _package_dirs('tensorrt_libs', 'tensorrt'))
    func = getattr(lib, 'getInferLibVersion', None) if lib is not None else None
    if func is not None:
        value = int(func())
        if value >= 100000:  # TensorRT 10+: major * 10000 + minor * 100 + patch
            return f'{value // 10000}.{value // 100 % 100}.{value % 100}'
        return f'{value // 1000}.{value // 100 % 10}.{value % 100}'
    for dist in ('tensorrt', 'tensorrt-libs', 'tensorrt-cu12', 'tensorrt-cu13'):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return 'none'


def is_jetson(
    tegra_release: Path = TEGRA_RELEASE, device_tree_model: Path = DEVICE_TREE_MODEL
) -> bool:
    """Jetson boards share system RAM with the GPU; they are told apart by these files."""
    if tegra_release.exists():
        return True
    try:
        model = device_tree_model.read_bytes().decode(errors='replace').lower()
    except OSError:
        return False
    return 'jetson' in model or 'tegra' in model


def diagnose_provider(provider: str, device_id: int = 0) -> str:
    """Best guess why an ONNX Runtime GPU provider did not become active (one clause)."""
    return provider_problem(provider, device_id) or (
        'the libraries load and a GPU is present; probably a version mismatch between '
        f'onnxruntime {ort.__version__} and the installed CUDA/cuDNN/TensorRT'
    )


def provider_problem(provider: str, device_id: int = 0) -> str:
    """Why a GPU provider cannot start on this machine (one clause), or '' if nothing is seen.

    Order of checks: provider compiled in, provider library and its dependencies loadable,
    TensorRT/cuDNN loadable, GPU present. '' predicts that the provider will start (before any
    session exists, e.g. to choose ``preprocess_in_model: auto``).
    """
    if provider not in ort.get_available_providers():
        return (
            f'this onnxruntime build ({ort.__version__}) has no {provider}; '
            'install onnxruntime-gpu (or the Jetson wheel)'
        )
    capi = Path(ort.__file__).parent / 'capi'
    short = {'TensorrtExecutionProvider': 'tensorrt', 'CUDAExecutionProvider': 'cuda'}
    if provider in short:
        lib_file = capi / f'libonnxruntime_providers_{short[provider]}.so'
        if lib_file.exists():
            _, error = _load((str(lib_file),))
            if error:
                return f'its libraries do not load ({error}); check LD_LIBRARY_PATH and versions'
    if provider == 'TensorrtExecutionProvider':
        lib, error = _load(_NVINFER_NAMES, _package_dirs('tensorrt_libs', 'tensorrt'))
        if lib is None:
            return f'TensorRT (libnvinfer) cannot be loaded: {error}'
    if _runtime() is None:
        return 'the CUDA runtime (libcudart) cannot be loaded; check the CUDA installation'
    lib, error = _load(_CUDNN_NAMES, _package_dirs('nvidia.cudnn'))
    if lib is None:
        return f'cuDNN (libcudnn) cannot be loaded: {error}'
    count, reason = _device_count()
    if count == 0:
        return reason or 'no CUDA-capable GPU was found'
    if device_id >= count:
        return f'device_id {device_id} does not exist ({count} GPU(s) visible)'
    return ''
