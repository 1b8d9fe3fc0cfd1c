"""The hardware catalog: shapes, attachment limits and zones as data."""

import pytest

from facts.hardware import UnknownMachineType, catalog


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


@pytest.mark.parametrize(("machine", "gpu", "count", "field", "says"), [
    ("n1-standard-8", "nvidia-tesla-t4", 3, "accelerator_count", "counts of 1, 2, 4"),
    ("e2-standard-8", "nvidia-tesla-t4", 1, "accelerator_type", "attaches only to n1"),
    ("n1-standard-32", "nvidia-tesla-v100", 1, "machine_type", "would fit with 4 GPUs"),
    ("g2-standard-24", "nvidia-l4", 1, "accelerator_count", "comes with exactly 2"),
    ("g2-standard-4", None, 0, "accelerator", "comes with 1 GPU(s)"),
    ("n1-standard-4", None, 2, "accelerator_count", "need an accelerator type"),
    ("n1-standard-4", "nvidia-h100", 1, "accelerator_type", "known GPUs"),
])
def test_attachment_rules_name_the_field_at_fault(machine, gpu, count, field, says):
    from facts.hardware import AttachmentError

    with pytest.raises(AttachmentError) as info:
        catalog().check_attachment(machine, gpu, count)
    assert info.value.field == field and says in str(info.value)


def test_valid_attachments_return_the_machine():
    assert catalog().check_attachment("n1-standard-8", "nvidia-tesla-v100", 1).vcpus == 8
    assert catalog().check_attachment("g2-standard-24", "nvidia-l4", 2).family == "g2"
    assert catalog().check_attachment("e2-standard-4", None, 0).family == "e2"
