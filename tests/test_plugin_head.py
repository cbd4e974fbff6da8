"""A user's own head: a class in their module and a YAML in their config dir, without touching poolbench."""

from __future__ import annotations

import json
import textwrap

from tests.conftest import TINY, cli_env, run_cli

USER_MODULE = '''
import torch
from poolbench.models.heads import PoolHead


class MedianPoolHead(PoolHead):
    """Global median pooling: robust to a few extreme activations."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).median(dim=2).values
'''

USER_HEAD_YAML = """
name: median
_target_: my_heads.MedianPoolHead
dropout: 0.0
"""


def test_user_head_from_own_module_and_config_dir(tmp_path):
    (tmp_path / "my_heads.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "my_conf" / "head").mkdir(parents=True)
    (tmp_path / "my_conf" / "head" / "median.yaml").write_text(USER_HEAD_YAML)
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    out = run_cli(
        [
            f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
            "head=median",
            *TINY,
            "trainer.epochs=1",
            "paths.results_dir=results",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (record,) = (tmp_path / "results/default/synthetic/small_cnn/median").glob("seed0*/result.json")
    result = json.loads(record.read_text())
    assert result["status"] == "ok" and result["head"] == "median"
    assert result["params_head"] == 16 * 4 + 4
