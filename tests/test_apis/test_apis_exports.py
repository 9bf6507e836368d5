"""``mmskysense.apis`` holds entry points only; the parts live in ``mmskysense.apis.scene`` and
``mmskysense.datasets.tiling`` (issue 27)."""

import inspect

import mmskysense.apis as apis


def test_apis_exports_entry_points_only():
    assert set(apis.__all__) == {
        'init_model',
        'list_models',  # models by name (issue 26)
        'get_model',
        'inference_model',
        'segment_geotiff',
        'detect_geotiff',
        'change_map_geotiff',
    }


def test_scene_entry_points_share_one_calling_convention():
    """``(model, inputs, output, classes, *, options)``."""
    for fn in (apis.segment_geotiff, apis.detect_geotiff, apis.change_map_geotiff):
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ['model', 'inputs', 'output'], fn
        assert params[3].name in ('num_classes', 'class_names'), fn
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[4:]), fn


def test_models_by_name_from_the_top_level_package():
    import mmskysense

    for name in ('list_models', 'get_model', 'inference_model'):
        assert getattr(mmskysense, name) is getattr(apis, name)
        assert name in mmskysense.__all__
