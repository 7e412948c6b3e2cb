"""Everything that runs ezkl: registration (calibration, compile, keys, fidelity), batch
circuits, proving and the SRS a circuit is keyed with."""
