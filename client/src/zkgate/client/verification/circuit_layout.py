"""The committed circuit's layout, and the refusal of layouts under which a proof binds nothing:
params outside the key, unchecked input ranges, inputs read at scales the key was not made for,
or instances that hide what the proof is read for."""

from __future__ import annotations

from zkgate.client.verification.reasons import Reason, VerificationError
from zkgate.core.bundle import VerifierBundle
from zkgate.core.instances import HASHED, PUBLIC, CircuitLayout, InstanceLayoutError
from zkgate.core.settings_consistency import SettingsInconsistent, check_settings_consistency


def committed_layout(bundle: VerifierBundle, *, batch: bool = False) -> CircuitLayout:
    """A batch circuit must hash its inputs and outputs (or one client would see another's
    data); a model circuit must show its outputs. Even committed, settings must read inputs at
    the scale the key was made for: at input scale 0 every input in (-0.5, 0.5) reads as 0, and
    a provider could serve a constant function under the model's name."""
    try:
        layout = CircuitLayout.from_settings(bundle.settings)
    except InstanceLayoutError as exc:
        raise VerificationError(Reason.INVALID_PROOF, f"committed settings: {exc}") from exc
    _check_binding(layout)
    _check_scales(bundle, layout, batch=batch)
    if batch:
        if (layout.input_visibility, layout.output_visibility) != (HASHED, HASHED):
            raise VerificationError(
                Reason.ENTRY_MISMATCH,
                f"the batch circuit's inputs are {layout.input_visibility!r} and its outputs "
                f"{layout.output_visibility!r}: a batch circuit must hash both",
            )
        return layout
    if layout.input_visibility not in (PUBLIC, HASHED):
        raise VerificationError(
            Reason.INPUT_MISMATCH,
            f"inputs are {layout.input_visibility!r}: the proof says nothing about the input",
        )
    if layout.output_visibility != PUBLIC:
        raise VerificationError(
            Reason.OUTPUT_OUT_OF_TOLERANCE,
            f"outputs are {layout.output_visibility!r}: the proof does not reveal the output "
            "to compare with the served one",
        )
    return layout


def _check_binding(layout: CircuitLayout) -> None:
    """The key binds the weights, and the circuit constrains the values it is read for."""
    if layout.param_visibility != "fixed":
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            f"params are {layout.param_visibility!r}: only 'fixed' params make the verifying "
            "key, and so the commitment, bind the model's weights",
        )
    if not layout.range_checks_io:
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            "the committed settings turn off the range checks on inputs and outputs "
            "(ignore_range_check_inputs_outputs): the circuit would not constrain the values "
            "it is read for",
        )


def _check_scales(bundle: VerifierBundle, layout: CircuitLayout, *, batch: bool) -> None:
    # A batch circuit's inputs are the model's, once per entry; the count comes from the
    # committed settings, not from the card's batch size, which nothing has bound yet.
    copies = max(1, len(layout.input_scales) // len(bundle.card.inputs)) if batch else 1
    try:
        check_settings_consistency(
            bundle.settings, [spec.datatype for spec in bundle.card.inputs] * copies
        )
    except SettingsInconsistent as exc:
        raise VerificationError(
            Reason.COMMITMENT_MISMATCH,
            f"the committed settings read inputs or outputs at scales the circuit was not keyed "
            f"at: {exc}",
        ) from exc
