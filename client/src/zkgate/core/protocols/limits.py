"""The protocols' defaults and bounds a user can change from the command line, in a module
of their own so that the command's parser shows them without importing numpy or the
protocols' statements."""

# accuracy: the certificate's margin and its failure probability (Hoeffding's bound).
DEFAULT_EPSILON = 0.05
DEFAULT_DELTA = 0.05
# retrieval: every returned record costs a proof; an answer beyond this is hours of proving,
# not a query.
MAX_RETRIEVAL_PROOFS = 20_000
# Catches an omission rate of 5% with 95% confidence (omission_sample_size(0.05, 0.95)).
DEFAULT_OMISSION_SAMPLE = 59
