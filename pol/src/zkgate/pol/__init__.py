"""zkgate proof-of-learning: training runs recorded as signed, replayable evidence.

A proof-of-learning is evidence, not a proof in the cryptographic sense: a verifier replays a
sample of the recorded training and accepts when the replay lands where the record says, within
thresholds calibrated from honest replay noise. The hardening against known spoofs (Fang et al.
2023; Zhang et al. 2022) is in what is fixed before training starts: the seed, the data order,
the policy and the dataset.
"""
