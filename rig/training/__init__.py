"""Making the rig: fitted training pairs, the estimator F, RigNet's training loop and losses, the identity proxy.

Library code only: each run is a config dataclass and one function; `facerig rig ...` (rig/cli/training.py) builds them.
"""
