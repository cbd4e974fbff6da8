"""The speed benchmark behind ``scripts/bench.py`` (``make bench``): a naive torchvision pipeline against
poolbench's tensor-resident pipeline, the bare compute and the machine's matmul peak, timed in one process.

``setup`` composes the config and builds what every variant shares; ``naive`` is the PIL/DataLoader pipeline;
``variants`` holds the timed variants; ``measure`` the timing itself (repetitions, waiting for idle loader
workers, matmul peak, FLOPs, evaluation, torch.compile); ``summary`` the table and the JSON result; ``cli`` the
arguments and ``main``. This package imports nothing on import.
"""
