"""Column names used everywhere in mqlml: the data contract and the scoring output.

One vocabulary: ``probability`` is calibrated (0-1), ``score`` an integer 1-99,
``grade`` a letter A-D and ``is_mql`` a boolean.
"""

# --- leads table -----------------------------------------------------------
LEAD_ID = "lead_id"
CREATED_AT = "created_at"
EMAIL = "email"
JOB_TITLE = "job_title"
COMPANY_SIZE = "company_size"
INDUSTRY = "industry"
COUNTRY = "country"
LEAD_SOURCE = "lead_source"
RECOGNISED_LEAD_ATTRIBUTES = (EMAIL, JOB_TITLE, COMPANY_SIZE, INDUSTRY, COUNTRY, LEAD_SOURCE)

# --- activities table ------------------------------------------------------
OCCURRED_AT = "occurred_at"
ACTIVITY_TYPE = "activity_type"
DETAIL = "detail"

# --- outcomes table --------------------------------------------------------
SQL_AT = "sql_at"
WON_AT = "won_at"
LOST_AT = "lost_at"
DEAL_VALUE = "deal_value"

REQUIRED_COLUMNS = {
    "leads": (LEAD_ID, CREATED_AT),
    "activities": (LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE),
    "outcomes": (LEAD_ID, SQL_AT, WON_AT),
}
DATETIME_COLUMNS = {
    "leads": (CREATED_AT,),
    "activities": (OCCURRED_AT,),
    "outcomes": (SQL_AT, WON_AT, LOST_AT),
}

# --- derived while training / scoring --------------------------------------
AS_OF = "as_of"
#: Pyfunc input (see :mod:`mqlml.serving.pyfunc`): a lead's activities as JSON text in its row.
ACTIVITIES = "activities"
#: Pyfunc input column: the lead's prebuilt activity summary as JSON (instead of activities).
ACTIVITY_SUMMARY = "activity_summary"
LABEL = "label"

# --- truth written by the synthetic generator (measurement only) -----------
TRUE_P_SQL = "p_sql"
TRUE_P_WON = "p_won"
CONVERTED_BEFORE_AS_OF = "converted_before_as_of"

# --- scoring output --------------------------------------------------------
PROBABILITY = "probability"
SCORE = "score"
GRADE = "grade"
IS_MQL = "is_mql"
#: Reasons in the scoring output: the fields that raised the score most, then lowered it.
N_POSITIVE_REASONS = 3
N_NEGATIVE_REASONS = 2
#: Score of a lead the model knows nothing about; reasons are points above or below it.
BASE_SCORE = "base_score"
#: Points of all fields not shown as a reason; base + reasons + other = score (within 1).
OTHER_POINTS = "other_points"
POSITIVE = "positive"
NEGATIVE = "negative"


def reason_text(direction: str, i: int) -> str:
    """Column of the ``i``-th (1-based) ``positive`` / ``negative`` reason sentence."""
    return f"{direction}_reason_{i}"


def reason_points(direction: str, i: int) -> str:
    """Column of the score points of the ``i``-th ``positive`` / ``negative`` reason."""
    return f"{direction}_reason_{i}_points"


# --- tiers: what happens to a lead (mql goes to sales; nurture stays with marketing) ------
TIER = "tier"
TIER_MQL = "mql"
TIER_NURTURE = "nurture"
TIER_DISQUALIFY = "disqualify"
TIERS = (TIER_MQL, TIER_NURTURE, TIER_DISQUALIFY)

REASON_COLUMNS = tuple(
    c
    for direction, k in ((POSITIVE, N_POSITIVE_REASONS), (NEGATIVE, N_NEGATIVE_REASONS))
    for i in range(1, k + 1)
    for c in (reason_text(direction, i), reason_points(direction, i))
) + (BASE_SCORE, OTHER_POINTS)

SCORE_COLUMNS = (LEAD_ID, PROBABILITY, SCORE, GRADE, IS_MQL, TIER) + REASON_COLUMNS

# --- what changed since the previous scoring of a lead (mqlml score --crm) -----------
#: The lead's scoring moment (UTC).
SCORED_AT = "scored_at"
#: Score and grade at the previous scoring of the same lead (empty the first time).
PREVIOUS_SCORE = "previous_score"
PREVIOUS_GRADE = "previous_grade"
#: ``score - previous_score`` (empty the first time).
SCORE_CHANGE = "score_change"
#: ``up``, ``down``, ``same`` against the previous scoring, or ``new``.
SCORE_TREND = "score_trend"
TREND_UP = "up"
TREND_DOWN = "down"
TREND_SAME = "same"
TREND_NEW = "new"
#: An MQL now that was not one at its previous scoring, or a new lead that is one.
BECAME_MQL = "became_mql"
#: The grade differs from the previous scoring's (never for a lead scored the first time).
GRADE_CHANGED = "grade_changed"
CHANGE_COLUMNS = (
    SCORED_AT, PREVIOUS_SCORE, PREVIOUS_GRADE, SCORE_CHANGE, SCORE_TREND, BECAME_MQL,
    GRADE_CHANGED,
)
