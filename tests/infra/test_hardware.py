"""The hardware catalog: shapes, attachment limits and zones as data."""

import pytest

from infra.hardware import UnknownMachineType, catalog


def test_machine_shapes_derive_memory_from_family():
    hw = catalog()
    m = hw.machine("n1-standard-32")
    assert (m.family, m.vcpus, m.memory_gb) == ("n1", 32, 120.0)
    assert hw.machine("n1-highmem-8").memory_gb == 52.0
    assert hw.machine("g2-standard-24").vcpus == 24


@pytest.mark.parametrize(("machine", "says"), [
    ("n1-standard-3", "1, 2, 4, 8, 16, 32, 64, 96 vCPUs, not 3"),
    ("z9-standard-4", "family 'z9' is not in the catalog"),
    ("n1-ultramem-4", "n1 has no 'ultramem' shapes"),
    ("standard", "not of the form"),
])
def test_unknown_machine_types_say_what_is_known(machine, says):
    with pytest.raises(UnknownMachineType, match=says):
        catalog().machine(machine)


def test_first_class_gpus_attach_to_n1_only_and_l4_to_g2():
    hw = catalog()
    n1_gpus = {"nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"}
    assert set(hw.families["n1"].accelerators_attachable) == n1_gpus
    assert hw.families["g2"].accelerators_attachable == ("nvidia-l4",)
    assert hw.families["e2"].accelerators_attachable == ()
    assert all(hw.accelerators[g].tier == "first-class" for g in n1_gpus)


def test_gpu_limits_grow_with_count():
    for gpu in catalog().accelerators.values():
        counts = gpu.allowed_counts
        vcpus = [gpu.limits[n].max_vcpus for n in counts]
        assert counts[0] == 1
        if gpu.name != "nvidia-l4":  # L4 limits follow the fixed G2 shapes instead
            assert vcpus == sorted(vcpus), gpu.name


def test_us_central1_c_offers_all_four_n1_gpus():
    hw = catalog()
    for gpu in ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"):
        assert "us-central1-c" in hw.zones_offering("us-central1", gpu)
    assert hw.zones_offering("us-central1", "nvidia-tesla-p100") == ("us-central1-c",
                                                                     "us-central1-f")


def test_every_zone_names_known_gpus_and_belongs_to_its_region():
    hw = catalog()
    for region, zones in hw.regions.items():
        for zone, gpus in zones.items():
            assert zone.startswith(region + "-")
            assert set(gpus) <= set(hw.accelerators), zone
