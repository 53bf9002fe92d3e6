"""Independent simulators: they sample the models' inputs and evaluate the networks themselves.

None of these modules imports ``derivations``: a simulator checks the model, not the formula.
"""
