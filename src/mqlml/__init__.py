"""mqlml: learn which marketing leads convert.

Point-in-time features from CRM history, a LightGBM conversion model with a
logistic-regression baseline beside it, calibrated probabilities, a 1-99 score,
grades A-D and a learned MQL threshold.
"""

__version__ = "0.1.0"
