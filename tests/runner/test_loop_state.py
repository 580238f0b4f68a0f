import pytest

from kiln.runner.loop_state import LoopState


def test_round_trip():
    state = LoopState()
    state.load_state_dict(dict(epoch=2, iter=250, batch_idx_in_epoch=10))
    assert state.state_dict() == dict(epoch=2, iter=250, batch_idx_in_epoch=10)


def test_state_saved_inside_after_hooks_counts_the_finished_work():
    state = LoopState(epoch=1, iter=9, batch_idx_in_epoch=4)
    state.mark_iter_done()  # a checkpoint saved in after_train_iter resumes at the NEXT batch
    assert state.state_dict() == dict(epoch=1, iter=10, batch_idx_in_epoch=5)
    state.finish_iter()
    assert (state.iter, state.batch_idx_in_epoch) == (10, 5)
    state.mark_epoch_done()  # saved in after_train_epoch: resume at the next epoch's start
    assert state.state_dict() == dict(epoch=2, iter=10, batch_idx_in_epoch=0)
    state.finish_epoch()
    assert state.state_dict() == dict(epoch=2, iter=10, batch_idx_in_epoch=0)


def test_unknown_key_rejected():
    with pytest.raises(KeyError, match="no field"):
        LoopState().load_state_dict(dict(epochs=1))
