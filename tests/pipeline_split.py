"""The recipe on a training's own time split, as the pipeline fits it (for tests)."""

from mqlml.labels.labelled import label_history
from mqlml.labels.split import time_split
from mqlml.training.funnel import stage_arrays
from mqlml.training.recipe import fit_recipe


def recipe_on_pipeline_split(crm, cfg):
    """The labelled leads, their time split and the recipe fit on its train and
    calibration slices, exactly as :func:`mqlml.training.pipeline.run_training` does."""
    lab = label_history(crm, cfg)
    split = time_split(lab.leads, lab.y, cfg.split_fractions, cfg.split.calibration_positives)
    st = stage_arrays(lab, cfg)
    recipe = fit_recipe(
        lab, cfg, fit_rows=split.train, calibration_rows=split.calibration,
        won=st.policy_won, deal_value=st.deal_value,
    )
    return lab, split, recipe
