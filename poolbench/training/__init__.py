"""Training, one concept per module (imported by their own names):

- ``optim``: optimiser, parameter groups and learning-rate schedules from ``TrainerSettings``;
- ``evaluate``: loss/accuracy over a split, the per-epoch row, final metrics, the translation test;
- ``checkpoint``: the epoch-end checkpoint (atomic) and resuming from it;
- ``progress``: what the user sees while a run trains;
- ``loop``: ``train(model, data, plan)``, the epoch loop with its divergence guard.
The step itself (forward, backward, optimiser step) lives in ``poolbench.step``, shared with the bench.
"""
