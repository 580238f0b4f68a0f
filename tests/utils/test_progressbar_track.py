"""track_iter_progress / track_progress yield every task, with or without a bar."""

import pytest

from kiln.utils import track_iter_progress, track_progress


@pytest.mark.parametrize("enabled", [None, False, True])
def test_track_iter_progress_yields_each_task(enabled):
    assert list(track_iter_progress([3, 1, 2], enabled=enabled)) == [3, 1, 2]
    assert list(track_iter_progress((iter("ab"), 2), enabled=enabled)) == ["a", "b"]


def test_track_progress_maps_the_function():
    assert track_progress(lambda x, k: x * k, [1, 2, 3], k=10, enabled=False) == [10, 20, 30]


def test_unsized_tasks_need_a_total():
    with pytest.raises(TypeError, match="tuple of \\(iterable, total\\)"):
        list(track_iter_progress(iter([1])))
