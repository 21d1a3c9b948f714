"""The embedded single-node engine (the default: no software but Python).

Import from the submodules (``node.SoloNode``, ``home.init_home``, ``verify.verify_chain``):
this package stays empty so that the verifier worker (``python -m
phrchain.engine.solo.verifier``) starts without loading the node."""
