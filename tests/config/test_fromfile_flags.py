"""Config.fromfile keywords kiln cannot honour fail, naming the keyword, instead of being ignored."""

import pytest

from kiln.config import Config


@pytest.mark.parametrize("keyword", ["use_predefined_variables", "use_environment_variables"])
def test_disabling_substitution_is_refused_by_name(tmp_path, keyword):
    path = tmp_path / "cfg.py"
    path.write_text("work_dir = '{{fileBasenameNoExtension}}'\n")
    with pytest.raises(ValueError, match=f"{keyword}=False"):
        Config.fromfile(path, **{keyword: False})
    assert Config.fromfile(path).work_dir == "cfg"  # the default still resolves
