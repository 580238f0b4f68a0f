"""The opt-in mmengine alias runs MMEngine-style imports on kiln's own modules."""

import subprocess
import sys
import textwrap


def test_alias_is_opt_in_and_maps_to_same_objects(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent("""
        import mmengine
        from mmengine.registry import WEIGHT_INITIALIZERS, Registry
        from mmengine.logging import print_log
        import kiln, kiln.registry
        assert mmengine is kiln
        assert Registry is kiln.registry.Registry
        assert WEIGHT_INITIALIZERS is kiln.registry.WEIGHT_INITIALIZERS
        print_log('aliased', logger='current')
    """))
    plain = subprocess.run([sys.executable, "-c", "import mmengine"], capture_output=True, text=True)
    # without opting in, the alias does not exist (mmengine is not installed in kiln's env)
    assert plain.returncode != 0
    run = subprocess.run([sys.executable, "-m", "kiln.compat", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert " - mmengine - INFO - aliased" in run.stdout


def test_unknown_submodule_has_clear_error(tmp_path):
    code = ("import kiln.compat as c; c.enable_mmengine_alias()\n"
            "try:\n    import mmengine.infer\nexcept ModuleNotFoundError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "kiln's mmengine alias has no 'mmengine.infer'" in run.stdout, run.stderr


def test_seed_weight_init_example_runs_unmodified_through_the_alias(tmp_path):
    """The seeds' custom-init + Pretrained examples, `from mmengine.model import ...` as written."""
    import pathlib
    import re

    script = pathlib.Path(__file__).parent / "data" / "seed_weight_init_mmengine.py"
    run = subprocess.run([sys.executable, "-m", "kiln.compat", str(script)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    text = re.sub(r"^\d\d/\d\d \d\d:\d\d:\d\d ", "", run.stdout, flags=re.M)
    blocks = [
        ("conv1.weight - torch.Size([1, 1, 1, 1]):",
         "KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0"),
        ("conv2.weight - torch.Size([1, 1, 1, 1]):", "XavierInit: gain=1, distribution=normal, bias=0"),
        ("custom_conv.custom_weight - torch.Size([1, 1, 1, 1]):",
         "Initialized by user-defined `init_weights` in ToyConv"),
        ("custom_conv.custom_bias - torch.Size([1]):",
         "Initialized by user-defined `init_weights` in ToyConv"),
    ]
    lines = [line.rstrip() for line in text.splitlines()]
    for head, info in blocks:
        i = lines.index(head)
        assert lines[i - 1] == "- mmengine - INFO -" and lines[i + 1] == info
    assert "- mmengine - INFO - load model from: ./pretrained.pth" in lines
    assert "- mmengine - INFO - local loads checkpoint from path: ./pretrained.pth" in lines
