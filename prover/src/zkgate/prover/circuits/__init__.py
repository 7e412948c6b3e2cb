"""Circuits: registration's stages (calibration, compilation, fidelity, keying, the batch
circuit), proving and the SRS, which run ezkl; and the ezkl-free parts a gateway uses too (the
request checks, the witness input format, SRS file names)."""
