"""Small helpers downstream code imports (MMEngine's ``mmengine.utils``)."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "progressbar": ["ProgressBar", "track_iter_progress", "track_progress"],
    "manager": ["ManagerMixin"],
    "misc": ["is_str", "is_seq_of", "is_list_of", "is_tuple_of", "is_method_overridden",
             "to_1tuple", "to_2tuple", "to_3tuple", "to_4tuple", "to_ntuple",
             "import_modules_from_strings", "deprecated_api_warning"],
    "path": ["mkdir_or_exist", "is_filepath", "check_file_exist", "scandir"],
    "version_utils": ["digit_version"],
})
