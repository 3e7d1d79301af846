"""The code MLflow runs to load an mqlml model ("models from code"): nothing else.

MLflow copies this file into every logged model and runs it on load (``mlflow models
serve``, ``mlflow.pyfunc.load_model``, ``spark_udf``) instead of unpickling an object, so
loading a registered mqlml model runs mqlml's installed code on its checked bundle and
no pickle. ``mqlml`` itself never runs the copy: it compares it with this file and loads
the bundle directly (:func:`mqlml.serving.tracking.load_registered_bundle`).
"""

import mlflow.models

from mqlml.serving.pyfunc import LeadScoringModel

mlflow.models.set_model(LeadScoringModel())
