"""The ezkl release installed here, read from the wheel's metadata.

Cards record the ezkl version that made a model's keys, and a verifier refuses a model made under
another; the version is read without importing ezkl, so a gateway can write and compare it
without loading the prover's native library.
"""

import importlib.metadata

# The version of the installed wheel; the ezkl module itself does not declare one in its stubs.
INSTALLED_EZKL_VERSION = importlib.metadata.version("ezkl")
