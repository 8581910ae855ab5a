"""pixelgate's control plane: a kopf operator that reconciles DatasetFamily, CompileRun,
TrainingRun and GateReview resources by submitting the Argo Workflows that
:mod:`pixelgate.workflows` renders, and mirrors workflow progress back into status.

Dependencies point one way: this package imports :mod:`pixelgate.workflows`, never the reverse.
"""
