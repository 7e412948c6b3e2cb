"""Settings fields that the verifying key does not bind, held to the ones it does.

ezkl's compile and setup read the run arguments (`run_args.input_scale`, `param_scale`), not
`model_input_scales`, `model_output_scales` or `input_types`; a verifier reads inputs and outputs
through those. A settings file whose model scales disagree with its run arguments keys the same
circuit but makes the verifier quantize inputs (or read outputs) at a scale the circuit never
used: at input scale 0 every input in (-0.5, 0.5) reads as 0. This checks what can be checked
without the ONNX; a verifier holding the ONNX derives the settings instead (predicate_circuit).
"""

from __future__ import annotations

from collections.abc import Sequence

from zkgate.core.documents import DocumentError, parse_object

# ezkl's names for floating-point tensors, and OIP's.
_EZKL_FLOATS = frozenset({"F16", "F32", "F64"})
_OIP_FLOATS = frozenset({"FP16", "FP32", "FP64", "BF16"})


class SettingsInconsistent(ValueError):
    """Settings whose unbound fields disagree with the run arguments the key was made from."""


def check_settings_consistency(settings: bytes, input_datatypes: Sequence[str]) -> None:
    """Raises SettingsInconsistent unless every input is read at the circuit's input scale with
    the type the caller sends (`input_datatypes`: OIP datatypes, one per input, in order), and
    every floating-point output at no coarser a scale than the inputs. Integer inputs may be
    read at scale 0 or at the input scale: both read them exactly."""
    try:
        document = parse_object(settings, what="settings.json")
        run_args = document.object("run_args")
        input_scale = run_args.count("input_scale")
        input_scales = document.counts("model_input_scales")
        output_scales = document.counts("model_output_scales")
        input_types = document.texts("input_types")
        output_types = document.texts("output_types")
    except DocumentError as exc:
        raise SettingsInconsistent(str(exc)) from exc
    if not len(input_scales) == len(input_types) == len(input_datatypes):
        raise SettingsInconsistent(
            f"settings.json has {len(input_scales)} input scales and {len(input_types)} input "
            f"types for {len(input_datatypes)} inputs"
        )
    for index, (scale, kind, sent) in enumerate(
        zip(input_scales, input_types, input_datatypes, strict=True)
    ):
        floating = sent in _OIP_FLOATS
        if floating != (kind in _EZKL_FLOATS):
            raise SettingsInconsistent(
                f"input {index} is sent as {sent}, but settings.json reads it as {kind}"
            )
        allowed = {input_scale} if floating else {0, input_scale}
        if scale not in allowed:
            raise SettingsInconsistent(
                f"input {index} is read at scale {scale}, the circuit was keyed at input scale "
                f"{input_scale}"
            )
    if len(output_scales) != len(output_types):
        raise SettingsInconsistent(
            f"settings.json has {len(output_scales)} output scales for {len(output_types)} outputs"
        )
    for index, (scale, kind) in enumerate(zip(output_scales, output_types, strict=True)):
        if kind in _EZKL_FLOATS and scale < input_scale:
            raise SettingsInconsistent(
                f"output {index} is read at scale {scale}, coarser than the input scale "
                f"{input_scale} the circuit computes at"
            )
