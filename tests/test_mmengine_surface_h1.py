"""The names of structures/fileio/utils/device/dist/dataset import from ``kiln.<pkg>`` and, through
the opt-in alias, from ``mmengine.<pkg>`` — as the import lines of OpenMMLab 2.x code write them."""

import importlib

import pytest

import kiln.compat

SURFACE = {
    "structures": ["BaseDataElement", "InstanceData", "LabelData", "PixelData"],
    "fileio": ["load", "dump", "get_local_path", "join_path", "list_from_file", "dict_from_file",
               "exists", "isfile", "isdir", "get", "put", "get_text", "put_text", "remove"],
    "utils": ["is_list_of", "is_seq_of", "is_tuple_of", "is_str", "is_method_overridden",
              "mkdir_or_exist", "digit_version", "to_1tuple", "to_2tuple", "to_3tuple", "to_4tuple",
              "to_ntuple", "import_modules_from_strings", "deprecated_api_warning", "ProgressBar",
              "track_iter_progress", "track_progress", "scandir", "check_file_exist", "is_filepath"],
    "utils.dl_utils": ["TORCH_VERSION", "collect_env"],
    "device": ["get_device", "is_cuda_available", "is_mps_available", "is_npu_available",
               "is_mlu_available", "is_musa_available", "is_dipu_available", "get_max_cuda_memory"],
    "dist": ["get_dist_info", "get_rank", "get_world_size", "get_local_rank", "get_local_size",
             "get_local_group", "init_local_group", "get_backend", "is_main_process", "master_only",
             "barrier", "all_reduce", "all_reduce_dict", "all_gather", "gather", "broadcast",
             "broadcast_object_list", "all_gather_object", "gather_object", "collect_results",
             "is_distributed", "get_comm_device", "get_data_device", "sync_random_seed"],
    "dataset": ["BaseDataset", "force_full_init", "Compose", "ConcatDataset", "RepeatDataset", "ClassBalancedDataset",
                "DefaultSampler", "InfiniteSampler", "pseudo_collate", "default_collate",
                "worker_init_fn"],
    "registry": ["TRANSFORMS", "DATASETS"],
    "": ["Config", "MODELS", "load", "dump", "DATASETS", "TRANSFORMS", "HOOKS", "digit_version"],
}

# Import lines as OpenMMLab 2.x projects (mmdet/mmseg/mmpretrain/mmpose) write them.
IMPORT_LINES = [
    "from mmengine.structures import InstanceData",
    "from mmengine.structures import BaseDataElement, InstanceData, LabelData, PixelData",
    "from mmengine.dist import get_dist_info, master_only",
    "from mmengine.dist import all_reduce, broadcast_object_list, collect_results, get_world_size",
    "from mmengine.dist import all_gather_object, barrier, get_rank, is_main_process, sync_random_seed",
    "from mmengine.fileio import load, dump, get_local_path",
    "from mmengine.fileio import join_path, list_from_file, exists, isfile, get",
    "from mmengine.utils import is_list_of, mkdir_or_exist",
    "from mmengine.utils import digit_version, is_seq_of, is_str, to_2tuple",
    "from mmengine.utils import track_iter_progress, ProgressBar",
    "from mmengine.utils.dl_utils import TORCH_VERSION, collect_env",
    "from mmengine.dataset import BaseDataset, Compose, ConcatDataset, DefaultSampler, pseudo_collate",
    "from mmengine.dataset import ClassBalancedDataset, RepeatDataset, InfiniteSampler, default_collate",
    "from mmengine.dataset import worker_init_fn",
    "from mmengine.device import get_device",
    "from mmengine.device import is_cuda_available, is_mps_available, is_npu_available",
    "from mmengine.registry import TRANSFORMS, DATASETS",
    "from mmengine import Config, load, dump",
    "import mmengine.fileio as fileio",
    "import mmengine.dist as dist",
]


@pytest.fixture
def alias():
    kiln.compat.enable_mmengine_alias()
    yield
    kiln.compat.disable_mmengine_alias()


CASES = [(pkg, name) for pkg, names in SURFACE.items() for name in names]


@pytest.mark.parametrize("pkg, name", CASES, ids=[f"{p or 'kiln'}.{n}" for p, n in CASES])
def test_name_imports_from_kiln_and_mmengine(alias, pkg, name):
    suffix = f".{pkg}" if pkg else ""
    ours = getattr(importlib.import_module(f"kiln{suffix}"), name)
    theirs = getattr(importlib.import_module(f"mmengine{suffix}"), name)
    assert theirs is ours
    assert name in dir(importlib.import_module(f"kiln{suffix}"))


@pytest.mark.parametrize("line", IMPORT_LINES)
def test_openmmlab_import_lines_work_through_the_alias(alias, line):
    namespace: dict = {}
    exec(line, namespace)  # noqa: S102 - fixed strings above
    names = [n for n in namespace if n != "__builtins__"]
    assert names and all(namespace[n] is not None for n in names)
    kiln_line = line.replace("mmengine", "kiln")
    kiln_ns: dict = {}
    exec(kiln_line, kiln_ns)  # noqa: S102
    assert all(kiln_ns[n] is namespace[n] for n in names)
