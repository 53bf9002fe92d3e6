"""nnderive's numeric side: independent simulators, the validation harness, experiments, CLI.

Nothing in this package evaluates a formula it validates except through the implementation
handed to a check (the emitted code, or a mutant of it); the simulators model the networks.
"""
