"""The registry names of kiln's FSDP2 wrapper, in a module of their own: ``utils`` registers the
lazy entries under them and ``fsdp2`` the real class, without either importing the other (and
without importing ``torch.distributed.fsdp``)."""

FSDP2_NAMES = ("FSDP2", "FullyShardWrapper")
