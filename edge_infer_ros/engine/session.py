"""Create the ORT session without ORT's silent fallback, and bind preallocated IO buffers.

``InferenceSession`` normally answers any TensorRT error by retrying with the remaining
providers *and none of the options*, printing to stdout. We pass ``enable_fallback=0`` so the
error reaches us, keep its text for the status, apply the configured policy, and retry (when
allowed) with the remaining providers *with* their options.

ONNX Runtime also prints its own lines while it tries a provider whose libraries do not load: a
red ``[E:onnxruntime:Default, provider_bridge_ort.cc...] Failed to load library ...`` per
provider, yellow CUDA warnings and bare ANSI-reset lines, straight to stderr, before the caller
can say what happened. They come through ORT's default logger when the provider bridge loads
the provider library at session creation. Measured with onnxruntime-gpu 1.31.1 on a machine
without CUDA: ``set_default_logger_severity(3)`` (errors) still prints the E lines, 4 (fatal)
silences all of them, and the session's ``log_severity_level`` alone silences none. So sessions
are created at 4, or at 2 (warnings, ORT's default) when the caller asks for ORT's own output
(the node at debug level); the caller reports the fallback itself, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import re
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
import onnxruntime as ort

from edge_infer_ros.engine.gpu import diagnose_provider
from edge_infer_ros.errors import EngineError, ProviderFallbackError

__all__ = [
    'CPU',
    'CUDA',
    'GPU_PROVIDERS',
    'ORT_PROVIDERS',
    'TRT',
    'Bindings',
    'SessionOutcome',
    'open_session',
]

ORT_QUIET, ORT_VERBOSE = 4, 2  # ONNX Runtime log severities: fatal only; warnings and errors
TRT, CUDA, CPU = 'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'
ORT_PROVIDERS = {'tensorrt': TRT, 'cuda': CUDA, 'cpu': CPU}
GPU_PROVIDERS = (TRT, CUDA)

ProviderList = Sequence[tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class SessionOutcome:
    """The session and how its providers compare with the request."""

    session: ort.InferenceSession
    requested: tuple[str, ...]
    active: tuple[str, ...]
    missing: tuple[str, ...]
    reason: str
    seconds: float
    # provider -> ONNX Runtime's own error text (for debug logs)
    ort_errors: dict[str, str] = field(default_factory=dict)


def _one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace and drop ORT's 'file.cc:123 void ns::func(args)' source prefix."""
    text = re.sub(r'\s+', ' ', text).strip()
    text = re.sub(r'/\S+\.(?:cc|cpp|h):\d+ [^()]*\([^)]*\) ', '', text)
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _explain(missing: Sequence[str], device_id: int) -> str:
    """The cause per missing provider, one clause each (ORT's own text is in ``ort_errors``)."""
    return '; '.join(f'{name}: {diagnose_provider(name, device_id)}' for name in missing)


def open_session(
    model_path: str,
    providers: ProviderList,
    make_options: Callable[[], ort.SessionOptions],
    policy: str,
    device_id: int = 0,
    ort_verbose: bool = False,
) -> SessionOutcome:
    """Create the session, verify the active providers and apply ``policy``.

    ``error`` raises on any missing provider; ``warn`` and ``allow`` continue with what is
    active (the caller decides how loudly to report ``reason``). ``ort_verbose`` lets ONNX
    Runtime print its own warnings and errors (see the module docstring).

    Raises:
        ProviderFallbackError: a requested provider is not active and ``policy`` is ``error``.
        EngineError: no session could be created at all.
    """
    requested = tuple(name for name, _ in providers)
    remaining = list(providers)
    ort_errors: dict[str, str] = {}
    ort.set_default_logger_severity(ORT_VERBOSE if ort_verbose else ORT_QUIET)
    start = time.perf_counter()
    while True:
        try:
            session = ort.InferenceSession(
                model_path, make_options(), providers=[(n, dict(o)) for n, o in remaining],
                enable_fallback=0,
            )
            break
        except Exception as err:  # noqa: BLE001 - ORT raises its own pybind exception types
            culprits = [name for name, _ in remaining if name in GPU_PROVIDERS]
            if not culprits:
                detail = _one_line(str(err))
                msg = f'cannot create an ONNX Runtime session for {model_path!r}: {detail}'
                raise EngineError(msg) from err
            ort_errors[culprits[0]] = _one_line(str(err))
            if policy == 'error':
                reason = _explain([culprits[0]], device_id)
                msg = (f'requested provider {culprits[0]} failed to start: {reason} '
                       f'(ONNX Runtime said: {ort_errors[culprits[0]]})')
                raise ProviderFallbackError(msg) from err
            remaining = [(n, o) for n, o in remaining if n != culprits[0]] or [(CPU, {})]
    seconds = time.perf_counter() - start
    active = tuple(session.get_providers())
    missing = tuple(name for name in requested if name not in active)
    reason = _explain(missing, device_id) if missing else ''
    if missing and policy == 'error':
        msg = (
            f'requested provider(s) {list(missing)!r} are not active, only {list(active)!r}: '
            f'{reason}'
        )
        raise ProviderFallbackError(msg)
    return SessionOutcome(session, requested, active, missing, reason, seconds, ort_errors)


class Bindings:
    """IO binding over buffers allocated once, so ``run`` allocates no tensors.

    Inputs live in host numpy arrays that callers write into. On a GPU provider they are also
    mirrored in device OrtValues (one host-to-device copy per run, no allocation). Outputs with
    a known shape are written by ORT straight into host numpy arrays; outputs whose size depends
    on the data are allocated by ORT per run (unavoidable).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        inputs: Sequence[tuple[str, tuple[int, ...], np.dtype[Any]]],
        outputs: Sequence[tuple[str, tuple[int, ...] | None, np.dtype[Any]]],
        *,
        on_gpu: bool,
        device_id: int = 0,
        cuda_graph: bool = False,
    ) -> None:
        self._session = session
        self._binding = session.io_binding()
        self.host_inputs: dict[str, NDArray[Any]] = {}
        self._device_inputs: list[tuple[ort.OrtValue, NDArray[Any]]] = []
        for name, shape, dtype in inputs:
            host = np.zeros(shape, dtype=dtype)
            self.host_inputs[name] = host
            if on_gpu:
                device = ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, 'cuda', device_id)
                self._binding.bind_ortvalue_input(name, device)
                self._device_inputs.append((device, host))
            else:
                self._binding.bind_input(name, 'cpu', 0, dtype, shape, host.ctypes.data)
        self.outputs: list[NDArray[Any]] = []
        self._dynamic: list[tuple[int, str]] = []
        self._device_outputs: list[tuple[ort.OrtValue, NDArray[Any]]] = []
        for index, (name, oshape, dtype) in enumerate(outputs):
            if oshape is None:
                self._dynamic.append((index, name))
                self.outputs.append(np.empty((0,), dtype=dtype))
                continue
            host = np.empty(oshape, dtype=dtype)
            self.outputs.append(host)
            if cuda_graph:  # CUDA graphs need fixed device addresses for every output
                device = ort.OrtValue.ortvalue_from_shape_and_type(
                    oshape, dtype, 'cuda', device_id
                )
                self._binding.bind_ortvalue_output(name, device)
                self._device_outputs.append((device, host))
            else:
                self._binding.bind_output(name, 'cpu', 0, dtype, oshape, host.ctypes.data)
        self._run_options = ort.RunOptions()

    def run(self) -> list[NDArray[Any]]:
        """Run once on the current input buffers; return the output buffers."""
        for device, host in self._device_inputs:
            device.update_inplace(host)
        for _, name in self._dynamic:  # rebind, or ORT reuses the last run's output as is
            self._binding.bind_output(name, 'cpu', 0)
        self._session.run_with_iobinding(self._binding, self._run_options)
        for device, host in self._device_outputs:
            np.copyto(host, device.numpy())
        if self._dynamic:
            values = self._binding.get_outputs()
            for index, _ in self._dynamic:
                self.outputs[index] = values[index].numpy()
        return list(self.outputs)

    def release(self) -> None:
        """Drop the binding and device buffers (the host arrays stay valid for their holders)."""
        self._binding.clear_binding_inputs()
        self._binding.clear_binding_outputs()
        self._device_inputs.clear()
        self._device_outputs.clear()
