"""Speed measurements. The benchmark behind ``scripts/bench.py`` (``make bench``): a naive torchvision pipeline
against poolbench's tensor-resident pipeline (fp32 and bf16), the bare compute and the machine's matmul peak,
timed in one process; ``time_to_verdict``: the run time of ``make claims``, from one short real run per cell;
``deploy_timing`` (``poolbench-deploy``): the CPU latency and throughput of every head of a results dir's
cells, timed together.

``setup`` composes the config and builds what every variant shares; ``naive`` is the PIL/DataLoader pipeline;
``variants`` holds the timed variants; ``measure`` the timing itself (repetitions, waiting for idle loader
workers, matmul peak, FLOPs, evaluation, torch.compile); ``summary`` the table and the JSON result; ``cli`` the
arguments and ``main``. This package imports nothing on import.
"""
