"""The adapter kinds by name: ``train.adapter`` and ``voxsift train --adapter`` name one of these.

Each kind is an :class:`~voxsift.asr.adapters.AdapterKind` object (attach to a frozen base,
save and load alone, merge for export) declared in the module of its own code, and registered
here as a lazy reference: the config and ``voxsift train --help`` list the kinds, and refuse an
unknown one, without importing torch. A kind of your own can be registered as an object
(``ADAPTERS.add("mine", Mine())``) before the config is read.
"""

from __future__ import annotations

from voxsift.registry import Lazy, Registry

ADAPTERS: Registry = Registry("adapter kind")
"""Of :class:`voxsift.asr.adapters.AdapterKind` objects (not imported here: it needs torch)."""
ADAPTERS.add("lora", Lazy("voxsift.asr.lora:LORA"))
ADAPTERS.add("rslora", Lazy("voxsift.asr.lora:RSLORA"))
ADAPTERS.add("s2lora", Lazy("voxsift.asr.s2lora:S2LORA"))
ADAPTERS.add("bottleneck", Lazy("voxsift.asr.bottleneck:BOTTLENECK"))
ADAPTERS.add("full", Lazy("voxsift.asr.export:FULL"))
