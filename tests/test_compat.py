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
            "try:\n    import mmengine.structures\nexcept ModuleNotFoundError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "kiln's mmengine alias has no 'mmengine.structures'" in run.stdout, run.stderr
