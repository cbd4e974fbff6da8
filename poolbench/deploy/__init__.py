"""Deployment: what a trained model costs to ship and run, measured where models are deployed.

``measure`` is the in-run part (multiply-adds, serialized size, optional eager CPU timing, accuracy at other input
sizes; ``run.py`` calls it). The rest is ``poolbench-deploy RESULTS_DIR`` (``command``), a production step of
``make claims`` run after training: every trained model of a cell (runs that differ only in head and seed) is
exported to ONNX and checked for parity (``onnx_export``) before anything is timed; int8 dynamic quantization
and its accuracy change (``quantize``); peak inference memory at batch 1 in a fresh process (``memory``); the
cell's heads timed interleaved in k independent processes, in eager PyTorch and ONNX Runtime (``rounds``), every
round kept (``deploy_timing.csv``); ``cells`` finds the cells and rebuilds their trained models; ``steps`` is
one model's export, parity, int8 and memory, and the per-head summaries of the stored rounds.

May import: training, runtime, models, data, step, config, record, atomic, errors (and poolbench.resample).
``onnx``/``onnxruntime`` are optional: where they are missing one line says so and the eager timing still runs.
"""

from poolbench.deploy.measure import accuracy_at_sizes, cost_fields, measure_deployment

__all__ = ["accuracy_at_sizes", "cost_fields", "measure_deployment"]
