"""Synthetic, realistic B2B CRM history with known true conversion probabilities.

The generator simulates a marketing funnel (lead -> SQL -> won) the way the MQL
literature describes it: fit attributes drawn with realistic, correlated marginals;
a latent, unobservable buying intent that drives behaviour; activities (page views,
pricing visits, downloads, webinars, emails, forms, demo and trial requests) that are
dense right after creation and decay; and outcomes drawn from a documented logistic
model of what is observable at the lead's as-of time. The export is censored at
``snapshot_at``. The full process and every coefficient are described in
``docs/synthetic.md``; the coefficient tables below are the single source of truth.

Everything is vectorised numpy: 100,000 leads (about 1.5 million activity rows)
generate in a few seconds.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mqlml import columns as C
from mqlml.config import DEFAULT_HORIZON_DAYS, DEFAULT_OBSERVATION_DAYS
from mqlml.data.files import write_table
from mqlml.features.build import EMAIL_BUSINESS, EMAIL_FREE, EMAIL_INVALID, EMAIL_MISSING

__all__ = [
    "DRIVER_FIELDS", "MarketShift", "SyntheticHistory", "generate_history",
    "true_driver_importance", "write_history",
]

_DAY = 86_400  # seconds
_HOUR = 3_600
#: Ordinary activity happens up to this many days after creation.
ACTIVITY_WINDOW_DAYS = 120
#: Leads that reach SQL within the horizon show a burst of activity in these days before it.
BURST_WINDOW_DAYS = 10
_TABLES = ("leads", "activities", "outcomes", "truth")
_TIME_UNIT = "datetime64[us]"

# =============================================================================
# Vocabularies and marginal distributions
# =============================================================================

INDUSTRIES = (
    "Software", "Financial services", "Healthcare", "Manufacturing", "Retail", "Education",
    "Professional services", "Government",
)
_P_INDUSTRY = (0.22, 0.13, 0.11, 0.12, 0.09, 0.09, 0.16, 0.08)

#: Company size bands; code 6 (``len(COMPANY_SIZES)``) means missing.
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
_SIZE_MISSING = len(COMPANY_SIZES)
# P(size | industry), rows in INDUSTRIES order.
_P_SIZE_GIVEN_INDUSTRY = (
    (0.20, 0.27, 0.24, 0.15, 0.08, 0.06),  # Software
    (0.10, 0.18, 0.22, 0.22, 0.15, 0.13),  # Financial services
    (0.12, 0.20, 0.24, 0.22, 0.13, 0.09),  # Healthcare
    (0.08, 0.20, 0.28, 0.24, 0.12, 0.08),  # Manufacturing
    (0.20, 0.24, 0.22, 0.16, 0.10, 0.08),  # Retail
    (0.10, 0.18, 0.27, 0.25, 0.13, 0.07),  # Education
    (0.26, 0.30, 0.22, 0.13, 0.06, 0.03),  # Professional services
    (0.03, 0.08, 0.20, 0.30, 0.22, 0.17),  # Government
)
_P_SIZE_MISSING = 0.03
_P_SIZE_MISSING_STUDENT = 0.30

COUNTRIES = ("US", "UK", "DE", "FR", "CA", "AU", "NL", "IN", "BR", "ES", "SE", "SG", "other")
_P_COUNTRY = (0.38, 0.11, 0.08, 0.05, 0.06, 0.04, 0.03, 0.08, 0.04, 0.03, 0.02, 0.02, 0.06)
_COUNTRY_TLD = (
    ".com", ".co.uk", ".de", ".fr", ".ca", ".com.au", ".nl", ".in", ".com.br", ".es", ".se",
    ".sg", ".com",
)

LEAD_SOURCES = (
    "organic_search", "paid_search", "paid_social", "referral", "webinar", "event",
    "content_syndication", "direct",
)
_P_SOURCE = (0.22, 0.15, 0.12, 0.06, 0.09, 0.07, 0.15, 0.14)

SENIORITIES = (
    "c_level", "vp", "director", "manager", "individual_contributor", "student", "unknown",
)
_SEN = {name: i for i, name in enumerate(SENIORITIES)}
# P(seniority | size) for working (non-student, titled) leads; rows: sizes then missing.
# Small companies are run by founders; enterprise leads are mostly managers and ICs.
_P_SENIORITY_GIVEN_SIZE = (
    (0.35, 0.08, 0.10, 0.20, 0.27),  # 1-10
    (0.18, 0.12, 0.14, 0.26, 0.30),  # 11-50
    (0.08, 0.12, 0.17, 0.30, 0.33),  # 51-200
    (0.04, 0.10, 0.18, 0.32, 0.36),  # 201-1000
    (0.02, 0.08, 0.17, 0.33, 0.40),  # 1001-5000
    (0.01, 0.06, 0.15, 0.34, 0.44),  # 5000+
    (0.10, 0.10, 0.14, 0.28, 0.38),  # missing
)
_P_TITLE_MISSING = 0.05
_P_TITLE_UNPARSEABLE = 0.02

DEPARTMENTS = (
    "marketing", "sales", "it_engineering", "finance", "operations", "hr", "executive", "other",
)
_DEP = {name: i for i, name in enumerate(DEPARTMENTS)}
# P(department | seniority), rows in SENIORITIES order.
_P_DEPARTMENT_GIVEN_SENIORITY = (
    (0.14, 0.10, 0.14, 0.08, 0.06, 0.04, 0.44, 0.00),  # c_level
    (0.36, 0.20, 0.20, 0.08, 0.09, 0.07, 0.00, 0.00),  # vp
    (0.36, 0.18, 0.20, 0.09, 0.10, 0.07, 0.00, 0.00),  # director
    (0.34, 0.16, 0.20, 0.08, 0.12, 0.07, 0.03, 0.00),  # manager
    (0.26, 0.16, 0.24, 0.09, 0.09, 0.06, 0.00, 0.10),  # individual_contributor
    (0.15, 0.00, 0.15, 0.00, 0.00, 0.00, 0.00, 0.70),  # student
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00),  # unknown
)

#: Job title strings per (seniority, department); each is classified by
#: :func:`mqlml.features.build.parse_job_title` into exactly that pair (tested).
JOB_TITLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("c_level", "marketing"): (
        "CMO", "Chief Marketing Officer", "Chief Growth Officer", "CMO & Co-Founder",
    ),
    ("c_level", "sales"): ("CRO", "Chief Revenue Officer", "Chief Sales Officer"),
    ("c_level", "it_engineering"): (
        "CTO", "CIO", "Chief Technology Officer", "CISO", "Chief Data Officer", "Co-Founder & CTO",
    ),
    ("c_level", "finance"): ("CFO", "Chief Financial Officer"),
    ("c_level", "operations"): ("COO", "Co-Founder & COO", "Chief Operations Officer"),
    ("c_level", "hr"): ("Chief People Officer", "Chief Human Resources Officer"),
    ("c_level", "executive"): (
        "CEO", "Founder", "Co-Founder", "Founder & CEO", "Owner", "President", "President & CEO",
        "Founder/CEO", "Business Owner",
    ),
    ("vp", "marketing"): (
        "VP of Marketing", "VP Marketing", "Vice President, Marketing", "Head of Marketing",
        "Head of Demand Generation", "SVP Marketing", "Head of Growth",
        "VP, Brand & Communications", "Head of Content",
    ),
    ("vp", "sales"): (
        "VP of Sales", "Vice President of Sales", "Head of Sales", "SVP, Sales",
        "VP Business Development", "Head of Revenue",
    ),
    ("vp", "it_engineering"): (
        "VP of Engineering", "VP Engineering", "Head of IT", "Head of Data", "VP of Technology",
        "Head of Engineering", "VP, Infrastructure",
    ),
    ("vp", "finance"): ("VP Finance", "Head of Finance", "Vice President, Finance"),
    ("vp", "operations"): ("VP of Operations", "Head of Operations", "VP Supply Chain"),
    ("vp", "hr"): ("VP of People", "Head of HR", "Head of Talent", "VP Human Resources"),
    ("director", "marketing"): (
        "Marketing Director", "Director, Demand Generation", "Director of Marketing",
        "Director of Content", "Brand Director", "Director of Growth Marketing",
        "Director, Product Marketing",
    ),
    ("director", "sales"): (
        "Sales Director", "Director of Sales", "Director, Business Development",
        "Regional Sales Director",
    ),
    ("director", "it_engineering"): (
        "IT Director", "Director of Engineering", "Director, Software Engineering",
        "Director of Data Science", "Director of Information Security",
    ),
    ("director", "finance"): (
        "Finance Director", "Director of Finance", "Director, Financial Planning & Analysis",
    ),
    ("director", "operations"): (
        "Operations Director", "Director of Operations", "Director, Supply Chain",
        "Program Director",
    ),
    ("director", "hr"): ("HR Director", "Director of People", "Director, Talent Acquisition"),
    ("manager", "marketing"): (
        "Marketing Manager", "Digital Marketing Manager", "Demand Generation Manager",
        "Content Marketing Manager", "Growth Manager", "Marketing Operations Manager",
        "SEO Manager", "Brand Manager", "Product Marketing Manager", "Demand Generation Lead",
    ),
    ("manager", "sales"): (
        "Sales Manager", "Account Manager", "Regional Sales Manager",
        "Business Development Manager", "Inside Sales Team Lead",
    ),
    ("manager", "it_engineering"): (
        "IT Manager", "Engineering Manager", "Data Engineering Manager",
        "Software Development Manager", "Technical Lead",
    ),
    ("manager", "finance"): ("Finance Manager", "Accounting Manager", "Procurement Manager"),
    ("manager", "operations"): (
        "Operations Manager", "Project Manager", "Program Manager", "Supply Chain Manager",
        "Logistics Manager",
    ),
    ("manager", "hr"): (
        "HR Manager", "Talent Acquisition Manager", "Human Resources Manager", "Recruiting Lead",
    ),
    ("manager", "executive"): ("General Manager",),
    ("individual_contributor", "marketing"): (
        "Marketing Specialist", "Marketing Coordinator", "Content Writer", "SEO Specialist",
        "Digital Marketing Analyst", "Marketing Associate", "Content Strategist",
        "Communications Specialist", "Marketing Operations Analyst",
    ),
    ("individual_contributor", "sales"): (
        "Account Executive", "Senior Account Executive", "Sales Representative",
        "Sales Development Representative", "Business Development Representative",
        "Sales Associate",
    ),
    ("individual_contributor", "it_engineering"): (
        "Software Engineer", "Senior Software Engineer", "Data Analyst", "Data Scientist",
        "DevOps Engineer", "Solutions Architect", "Frontend Developer", "Security Analyst",
        "Data Engineer", "IT Administrator", "Senior Developer",
    ),
    ("individual_contributor", "finance"): (
        "Financial Analyst", "Accountant", "Senior Accountant", "Procurement Specialist",
        "Finance Associate", "Treasury Analyst",
    ),
    ("individual_contributor", "operations"): (
        "Operations Analyst", "Project Coordinator", "Supply Chain Analyst",
        "Logistics Coordinator", "Operations Specialist",
    ),
    ("individual_contributor", "hr"): (
        "HR Specialist", "Talent Acquisition Specialist", "HR Coordinator",
        "Recruiting Coordinator",
    ),
    ("individual_contributor", "other"): (
        "Consultant", "Senior Consultant", "Research Analyst", "Product Designer", "Technician",
        "Customer Success Specialist", "Associate",
    ),
    ("student", "marketing"): ("Marketing Intern", "Marketing Student"),
    ("student", "it_engineering"): (
        "Software Engineering Intern", "Engineering Student", "Data Science Intern",
    ),
    ("student", "other"): ("Student", "Graduate Student", "MBA Student", "PhD Student", "Intern"),
    ("unknown", "other"): (
        "Freelancer", "Self-employed", "Partner", "Other", "Volunteer", "Retired", "Board Member",
    ),
}

EMAIL_TYPES = (EMAIL_BUSINESS, EMAIL_FREE, EMAIL_INVALID, EMAIL_MISSING)
_P_EMAIL_BASE = (0.66, 0.22, 0.04, 0.08)
_P_EMAIL_STUDENT = (0.04, 0.84, 0.05, 0.07)
_P_EMAIL_SYNDICATED = (0.92, 0.05, 0.01, 0.02)  # vendors deliver validated business emails

_FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Daniel", "Karen", "Matthew", "Lisa", "Anthony", "Nancy", "Mark", "Sandra", "Paul", "Ashley",
    "Steven", "Emily", "Andrew", "Michelle", "Priya", "Rahul", "Wei", "Mei", "Lukas", "Anna",
    "Sophie", "Louis", "Emma", "Noah", "Olivia", "Liam", "Lucas", "Julia", "Mateo", "Camila",
    "Hugo", "Chloe", "Jonas", "Lea", "Arjun", "Ananya", "Pedro", "Beatriz", "Oliver", "Amelia",
    "Finn", "Freya", "Sven", "Ingrid", "Kenji", "Yuki", "Omar", "Fatima", "Diego", "Lucia",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
    "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell",
    "Patel", "Sharma", "Singh", "Chen", "Wang", "Li", "Kim", "Nguyen", "Mueller", "Schmidt",
    "Schneider", "Fischer", "Weber", "Dubois", "Laurent", "Bernard", "Moreau", "Jansen",
    "DeVries", "Bakker", "Silva", "Santos", "Oliveira", "Souza", "Andersson", "Johansson",
    "Tanaka", "Sato", "Fernandez", "Gonzalez", "OBrien", "Murphy", "Kelly", "Walsh",
)
_COMPANY_PREFIXES = (
    "north", "blue", "apex", "bright", "clear", "summit", "river", "cedar", "pioneer", "vertex",
    "quantum", "silver", "harbor", "atlas", "nova", "orbit", "granite", "maple", "lumen",
    "stellar", "evergreen", "ironwood", "redwood", "keystone", "beacon", "horizon", "crescent",
    "falcon", "meridian", "oakridge", "sterling", "trident", "zenith", "bluepeak", "westfield",
    "lakeside", "highland", "brightwater", "coastal", "union",
)
# Second half of company domains, per industry (INDUSTRIES order).
_COMPANY_CORES = (
    ("soft", "labs", "cloud", "systems", "data", "tech", "software", "ai"),
    ("capital", "bank", "finance", "invest", "wealth", "insurance", "credit"),
    ("health", "med", "care", "clinic", "bio", "pharma"),
    ("industries", "manufacturing", "works", "tools", "steel", "machines", "plastics"),
    ("retail", "shop", "goods", "stores", "brands", "outfitters"),
    ("university", "college", "academy", "learning", "school"),
    ("consulting", "partners", "advisors", "legal", "group", "associates"),
    ("county", "citycouncil", "agency", "authority", "department"),
)
_FREE_DOMAINS = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
    "protonmail.com", "live.com",
)
_P_FREE_DOMAINS = (0.52, 0.10, 0.09, 0.14, 0.07, 0.03, 0.03, 0.02)
# Country-specific consumer providers (COUNTRIES code -> domains), used for 40% of free
# addresses in those countries.
_LOCAL_FREE_DOMAINS = {
    1: ("yahoo.co.uk", "hotmail.co.uk"),
    2: ("gmx.de", "web.de", "t-online.de"),
    3: ("orange.fr", "free.fr", "laposte.net", "yahoo.fr"),
    7: ("rediffmail.com",),
    8: ("uol.com.br", "bol.com.br"),
}
_INVALID_EMAILS = (
    "n/a", "test@", "asdf", "none", "-", "no email", "x@x", "@gmail.com", "test", "na",
    "john@", "noemail@", "unknown",
)

ACTIVITY_TYPES = (
    "page_view", "pricing_page_view", "content_download", "webinar_signup", "webinar_attended",
    "email_open", "email_click", "form_fill", "demo_request", "free_trial_request",
)
(
    _PAGE, _PRICING, _CONTENT, _WSIGNUP, _WATTEND, _OPEN, _CLICK, _FORM, _DEMO, _TRIAL,
) = range(len(ACTIVITY_TYPES))
_N_TYPES = len(ACTIVITY_TYPES)

_PAGE_PATHS = (
    "/", "/", "/product", "/product/lead-scoring", "/product/attribution",
    "/product/integrations", "/features", "/customers", "/customers/case-studies",
    "/blog/what-is-an-mql", "/blog/lead-scoring-models", "/blog/b2b-funnel-benchmarks",
    "/blog/marketing-attribution-guide", "/blog/sales-and-marketing-alignment", "/about",
    "/careers", "/docs/getting-started", "/security", "/solutions/saas",
    "/solutions/financial-services", "/solutions/healthcare", "/partners", "/contact",
)
_PRICING_PATHS = ("/pricing", "/pricing", "/pricing/enterprise", "/pricing/compare-plans",
                  "/pricing/faq")
_ASSETS = (
    "Ebook: The State of B2B Lead Scoring", "Whitepaper: Predictive vs Rule-Based Scoring",
    "Checklist: MQL Definition Workshop", "Report: B2B Funnel Benchmarks",
    "Template: Lead Routing Playbook", "Case study: How a SaaS Team Doubled Its SQL Rate",
    "Guide: Marketing Attribution for Beginners", "Infographic: The B2B Buyer Journey",
)
_WEBINARS = (
    "Webinar: Predictive Lead Scoring 101", "Webinar: Aligning Sales and Marketing on the MQL",
    "Webinar: Attribution That Finance Trusts", "Webinar: Product Tour and Live Q&A",
    "Webinar: Building a Pipeline Forecast",
)
_CAMPAIGNS = (
    "Newsletter: Monthly Digest", "Nurture: Welcome 1", "Nurture: Welcome 2",
    "Nurture: Welcome 3", "Nurture: Customer Story", "Promo: Webinar Invitation",
    "Promo: Product Launch", "Nurture: Pricing Explained",
)
_FORMS = ("Contact us", "Newsletter signup", "Event registration", "Talk to an expert",
          "Partner inquiry")
_DEMO_DETAILS = ("/demo", "Book a meeting")
_TRIAL_DETAILS = ("/trial/signup", "Free trial (14 days)")
# Which detail vocabulary each activity type draws from (clicks inherit their open's
# campaign, attendance its signup's webinar).
_DETAIL_GROUPS = (
    _PAGE_PATHS, _PRICING_PATHS, _ASSETS, _WEBINARS, _WEBINARS, _CAMPAIGNS, _CAMPAIGNS, _FORMS,
    _DEMO_DETAILS, _TRIAL_DETAILS,
)

# =============================================================================
# Latent intent and behaviour (not observable; drives activities)
# =============================================================================

_INTENT_SENIORITY = (0.3, 0.4, 0.35, 0.2, 0.0, -0.8, -0.3)
_INTENT_DEPARTMENT = (0.3, 0.1, 0.0, -0.1, 0.0, -0.2, 0.2, -0.2)
_INTENT_SOURCE = (0.2, 0.3, -0.2, 0.5, 0.3, 0.1, -0.8, 0.3)
_INTENT_EMAIL = (0.2, -0.3, -0.5, -0.3)
_INTENT_SIZE = (-0.2, 0.0, 0.0, 0.0, 0.0, 0.0, -0.1)
_INTENT_NOISE_SD = 1.0

#: P(no activity at all) = sigmoid(_SILENT_A + _SILENT_B * intent)
_SILENT_A, _SILENT_B = -1.8, -0.9
# Lifetime (120-day) Poisson rate exp(a + b * intent) per base activity type, and timing:
# a share ``p_early`` of events at Exponential(tau days) after creation (truncated at the
# window), the rest uniform over the window.
_RATES = {
    #  type:     (a,    b,   p_early, tau_days)
    _PAGE: (1.2, 0.6, 0.65, 6.0),
    _PRICING: (-1.5, 1.0, 0.55, 10.0),
    _CONTENT: (-0.8, 0.3, 0.70, 4.0),
    _WSIGNUP: (-2.0, 0.5, 0.50, 10.0),
    _OPEN: (2.0, 0.35, 0.30, 10.0),
    _FORM: (-1.6, 0.7, 0.70, 5.0),
    _DEMO: (-4.0, 1.1, 0.45, 12.0),
    _TRIAL: (-4.4, 1.0, 0.45, 12.0),
}
_WEBINAR_SOURCE_SIGNUP_BOOST = 1.5  # added to the signup log-rate of webinar-sourced leads
#: P(click | open) = sigmoid(-1.7 + 0.4 intent); P(attend | signup) = sigmoid(0.2 + 0.4 intent)
_CLICK_A, _CLICK_B = -1.7, 0.4
_ATTEND_A, _ATTEND_B = 0.2, 0.4
# The activity that created the lead (within two minutes of created_at), by lead source:
# (P(content_download), P(form_fill), P(webinar_signup)).
_CREATION_EVENT = (
    (0.6, 0.0, 0.0),  # organic_search
    (0.6, 0.0, 0.0),  # paid_search
    (0.6, 0.0, 0.0),  # paid_social
    (0.0, 0.4, 0.0),  # referral
    (0.0, 0.0, 1.0),  # webinar
    (0.0, 0.0, 0.0),  # event (badge scan)
    (1.0, 0.0, 0.0),  # content_syndication
    (0.3, 0.3, 0.0),  # direct
)
# Burst before sql_at for leads that reach SQL after as-of: counts per type.
_BURST_PRICING_POISSON = 1.2  # 1 + Poisson(1.2) pricing page views
_BURST_PAGE_POISSON = 2.5
_BURST_P_DEMO = 0.45
_BURST_P_TRIAL = 0.10
_BURST_P_FORM = 0.25

# =============================================================================
# The truth: P(SQL within horizon | observables at as-of) -- the documented drivers
# =============================================================================

SQL_INTERCEPT = -3.6
SQL_EMAIL = {EMAIL_BUSINESS: 0.0, EMAIL_FREE: -0.8, EMAIL_INVALID: -1.1, EMAIL_MISSING: -0.5}
SQL_SENIORITY = {
    "c_level": 0.4, "vp": 0.6, "director": 0.5, "manager": 0.25, "individual_contributor": 0.0,
    "student": -1.3, "unknown": -0.3,
}
SQL_DEPARTMENT = {
    "marketing": 0.35, "sales": 0.15, "it_engineering": 0.0, "finance": -0.1, "operations": 0.0,
    "hr": -0.3, "executive": 0.3, "other": -0.2,
}
#: Non-monotone in size: the largest enterprises buy slower than the upper mid-market.
SQL_COMPANY_SIZE = {
    "1-10": -0.6, "11-50": -0.2, "51-200": 0.0, "201-1000": 0.25, "1001-5000": 0.4,
    "5000+": 0.3, "missing": -0.3,
}
SQL_INDUSTRY = {
    "Software": 0.4, "Financial services": 0.2, "Healthcare": 0.0, "Manufacturing": -0.1,
    "Retail": -0.15, "Education": -0.5, "Professional services": 0.1, "Government": -0.4,
}
SQL_COUNTRY = {
    "US": 0.1, "UK": 0.1, "DE": 0.0, "FR": -0.1, "CA": 0.1, "AU": 0.05, "NL": 0.0, "IN": -0.4,
    "BR": -0.3, "ES": -0.1, "SE": 0.0, "SG": 0.0, "other": -0.3,
}
SQL_LEAD_SOURCE = {
    "organic_search": 0.1, "paid_search": 0.1, "paid_social": -0.2, "referral": 0.5,
    "webinar": 0.2, "event": 0.1, "content_syndication": -0.5, "direct": 0.2,
}
#: Interaction: marketing decision makers (marketing department at c_level / vp / director).
SQL_MARKETING_DECISION_MAKER = 0.3
#: Coefficients on log1p(count strictly before as-of), per activity type.
SQL_LOG1P_COUNT = {
    "page_view": 0.2, "pricing_page_view": 1.0, "content_download": 0.2,
    "webinar_signup": 0.1, "webinar_attended": 0.35, "email_open": 0.05, "email_click": 0.25,
    "form_fill": 0.6, "demo_request": 0.0, "free_trial_request": 0.0,
}
#: Interaction: the pricing_page_view log1p coefficient is multiplied by this, by company size.
SQL_PRICING_SIZE_MULTIPLIER = {
    "1-10": 0.5, "11-50": 0.8, "51-200": 1.0, "201-1000": 1.3, "1001-5000": 1.5, "5000+": 1.5,
    "missing": 0.8,
}
#: Flags for at least one demo request / free trial request before as-of.
SQL_ANY_DEMO_REQUEST = 2.2
SQL_ANY_FREE_TRIAL_REQUEST = 1.6
#: Step (threshold) effect: 5 or more page views before as-of.
SQL_MANY_PAGE_VIEWS = 0.3
SQL_MANY_PAGE_VIEWS_THRESHOLD = 5
#: Recency: + SQL_RECENCY * exp(-days_since_last_activity / SQL_RECENCY_SCALE_DAYS);
#: leads with no activity before as-of get SQL_NO_ACTIVITY instead.
SQL_RECENCY = 0.6
SQL_RECENCY_SCALE_DAYS = 3.0
SQL_NO_ACTIVITY = -0.4

#: The business fields of the true SQL log-odds, named as the report names them
#: (:mod:`mqlml.features.build`): ``logit = SQL_INTERCEPT + sum of one term per field``. An
#: interaction is split half and half between its two fields (decision maker: seniority
#: and department; pricing x size: pricing_page_view and company_size); each flag and
#: threshold belongs to its activity type; recency includes the no-activity level.
FIT_DRIVER_FIELDS = (
    "email_domain_type", "seniority", "department", C.COMPANY_SIZE, C.INDUSTRY, C.COUNTRY,
    C.LEAD_SOURCE,
)
DRIVER_FIELDS = FIT_DRIVER_FIELDS + ACTIVITY_TYPES + ("recency",)

# =============================================================================
# Won given SQL: q = sigmoid(WON_INTERCEPT + ...), p_won = p_sql * q
# =============================================================================

WON_INTERCEPT = -1.45
WON_COMPANY_SIZE = {
    "1-10": -0.6, "11-50": -0.2, "51-200": 0.0, "201-1000": 0.2, "1001-5000": 0.1,
    "5000+": -0.1, "missing": -0.2,
}
WON_SENIORITY = {
    "c_level": 0.5, "vp": 0.4, "director": 0.3, "manager": 0.1, "individual_contributor": -0.1,
    "student": -1.0, "unknown": -0.2,
}
WON_INDUSTRY = {
    "Software": 0.3, "Financial services": 0.1, "Healthcare": 0.0, "Manufacturing": 0.0,
    "Retail": -0.1, "Education": -0.3, "Professional services": 0.1, "Government": -0.4,
}
WON_EMAIL = {EMAIL_BUSINESS: 0.3, EMAIL_FREE: -0.3, EMAIL_INVALID: -0.3, EMAIL_MISSING: -0.2}
WON_ANY_FREE_TRIAL_REQUEST = 0.8
WON_ANY_DEMO_REQUEST = 0.3

# =============================================================================
# Conversion timing
# =============================================================================

#: Fast converters: P(SQL right after the first demo / free trial request before as-of),
#: P(SQL right after the first form fill) for leads without such a request; the delay is
#: Gamma(shape 2, scale FAST_DELAY_SCALE_DAYS) days and must end before as-of.
FAST_P_AFTER_REQUEST = 0.35
FAST_P_AFTER_FORM = 0.03
FAST_DELAY_SCALE_DAYS = 0.75
#: SQL delay after as-of: horizon * Beta(1.3, b), b = 3 (4.5 with a pricing / demo / trial
#: signal before as-of: engaged leads convert sooner).
_SQL_DELAY_A, _SQL_DELAY_B, _SQL_DELAY_B_ENGAGED = 1.3, 3.0, 4.5
#: Leads not SQL within the horizon reach it later with probability LATE_SQL_FACTOR * p_sql,
#: 1-120 days after the horizon ends.
LATE_SQL_FACTOR = 0.25
_LATE_SQL_MAX_DAYS = 120
#: Lost: Gamma(2, 20) + 7 days after sql_at. Won: 7 days + Beta(1.5, 2.5) of what is left of
#: the won horizon (all of it when under 14 days).
_LOST_SHAPE, _LOST_SCALE_DAYS, _LOST_MIN_DAYS = 2.0, 20.0, 7.0
#: Median deal value by company size (then missing), log-normal with sigma 0.6.
DEAL_MEDIAN = (6_000, 12_000, 25_000, 50_000, 90_000, 160_000, 20_000)
DEAL_SIGMA = 0.6


# =============================================================================
# Public API
# =============================================================================


@dataclass(frozen=True)
class SyntheticHistory:
    """A synthetic CRM export plus the true conversion probabilities.

    Attributes
    ----------
    leads : DataFrame
        ``lead_id, created_at, email, job_title, company_size, industry, country,
        lead_source``; one row per lead, ordered by ``created_at``.
    activities : DataFrame
        ``lead_id, occurred_at, activity_type, detail``; ordered by lead and time.
    outcomes : DataFrame
        ``lead_id, sql_at, won_at, lost_at, deal_value``; one row per lead that reached
        SQL by ``snapshot_at``. ``won_at`` / ``lost_at`` are NaT while the opportunity is
        open; ``deal_value`` is set for won deals only.
    truth : DataFrame
        ``lead_id, as_of, p_sql, p_won, converted_before_as_of``; one row per lead.
        ``p_sql`` is the true probability of reaching SQL in
        ``(as_of, as_of + sql_horizon_days]`` given what is observable at ``as_of``;
        ``p_won`` of being won by ``as_of + won_horizon_days``. For measurement only.
    snapshot_at : Timestamp
        The export time (UTC); no table holds an event after it.
    drivers : DataFrame
        ``lead_id`` plus one float column per business field of :data:`DRIVER_FIELDS`:
        the field's term in the true SQL log-odds at ``as_of``, so that
        ``p_sql = sigmoid(SQL_INTERCEPT + row sum of the terms)``. For measurement only
        (which fields truly drive conversion, per lead); not written by
        :func:`write_history`.
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame
    snapshot_at: pd.Timestamp
    drivers: pd.DataFrame


#: Activity types a :class:`MarketShift` can make stop predicting (the types drawn from
#: intent directly; clicks and attendance are derived from opens and signups).
STOPPABLE_BEHAVIOURS = (
    "page_view", "pricing_page_view", "content_download", "form_fill", "demo_request",
    "free_trial_request",
)


@dataclass(frozen=True)
class MarketShift:
    """A change of the synthetic market for the leads created at or after ``at``.

    Every part is optional; the truth (``p_sql``, ``p_won``, the drivers) describes the
    shifted world, so a monitor or a retrain can be tested against a known change. The
    shift draws its own random numbers from a separate stream, so the leads before ``at``
    are the same as without it.

    Attributes
    ----------
    at : str or Timestamp
        The first moment of the shifted market (UTC unless an offset is given).
    new_source : str, optional
        A lead source that appears at ``at``: a share ``new_source_share`` of the later
        leads come from it, with ``new_source_logit`` as its term in the true SQL log-odds
        (the documented sources range from -0.5 to 0.5).
    new_source_logit, new_source_share : float
        Its conversion effect (log-odds) and its share of the leads after ``at``.
    stop_behaviour : str, optional
        One of :data:`STOPPABLE_BEHAVIOURS`: after ``at`` it happens at the same average
        rate but no longer depends on the lead's intent, and it has no term in the truth,
        so it stops predicting conversion (lift about 1). A request still allows the fast
        conversion before as-of.
    base_rate_logit : float
        Added to the true SQL log-odds of every lead after ``at`` (a rise or fall in the
        base rate).
    new_industry : str, optional
        An industry that appears at ``at``: a share ``new_industry_share`` of the later leads
        belong to it, with ``new_industry_logit`` as its term in the true SQL log-odds (its
        term in the won model is 0).
    new_industry_logit, new_industry_share : float
        Its conversion effect (log-odds) and its share of the leads after ``at``.
    """

    at: str | pd.Timestamp
    new_source: str | None = None
    new_source_logit: float = 0.0
    new_source_share: float = 0.2
    stop_behaviour: str | None = None
    base_rate_logit: float = 0.0
    new_industry: str | None = None
    new_industry_logit: float = 0.0
    new_industry_share: float = 0.1


def generate_history(
    n_leads: int,
    seed: int = 0,
    *,
    start: str = "2024-01-01",
    days: int = 730,
    observation_days: int = DEFAULT_OBSERVATION_DAYS,
    sql_horizon_days: int = DEFAULT_HORIZON_DAYS["sql"],
    won_horizon_days: int = DEFAULT_HORIZON_DAYS["won"],
    driver_scale: Mapping[str, float] | None = None,
    shift: MarketShift | None = None,
) -> SyntheticHistory:
    """Generate a synthetic B2B CRM history with known true conversion probabilities.

    Parameters
    ----------
    n_leads : int
        Number of leads, positive.
    seed : int, default 0
        Seed for :func:`numpy.random.default_rng`; the same seed gives identical frames.
    start : str, default "2024-01-01"
        First day of lead creation (UTC unless an offset is given).
    days : int, default 730
        Leads are created over this many days; ``snapshot_at = start + days``.
    observation_days : int, default ``DEFAULT_OBSERVATION_DAYS``
        ``as_of = created_at + observation_days``; the truth uses only what is
        observable before ``as_of``.
    sql_horizon_days : int, default ``DEFAULT_HORIZON_DAYS["sql"]``
        ``p_sql`` is the probability of SQL in ``(as_of, as_of + sql_horizon_days]``.
    won_horizon_days : int, default ``DEFAULT_HORIZON_DAYS["won"]``
        ``p_won`` is the probability of being won by ``as_of + won_horizon_days``;
        at least ``sql_horizon_days``.
    driver_scale : mapping of str to float, optional
        Multiplies the named business fields' terms (see :data:`DRIVER_FIELDS` and
        ``SyntheticHistory.drivers``) in the true SQL log-odds, e.g.
        ``{"seniority": 3.0}`` makes job seniority a stronger driver; the rest of the
        process is unchanged. Each factor must be positive and finite. ``None`` (the
        default) gives exactly the documented generator.
    shift : MarketShift, optional
        Change the market for the leads created at or after ``shift.at`` (a new lead
        source, a behaviour that stops predicting, a base-rate change, a new industry);
        ``None`` (the default) gives exactly the documented generator.

    Returns
    -------
    SyntheticHistory

    Raises
    ------
    ValueError
        If an argument is invalid; the message names the parameter.

    Examples
    --------
    >>> history = generate_history(1_000, seed=1)
    >>> len(history.leads)
    1000
    """
    history, _ = _generate_with_intended(
        n_leads, seed, start=start, days=days, observation_days=observation_days,
        sql_horizon_days=sql_horizon_days, won_horizon_days=won_horizon_days,
        driver_scale=driver_scale, shift=shift,
    )
    return history


def true_driver_importance(
    history: SyntheticHistory, lead_ids: object | None = None
) -> pd.Series:
    """The generator's true importance of each business field: mean |exact SHAP|.

    The true SQL log-odds is additive per field, so a field's exact SHAP value (in
    log-odds) for a lead is its term minus the term's mean over the leads considered.

    Parameters
    ----------
    history : SyntheticHistory
        The output of :func:`generate_history`.
    lead_ids : array-like of str, optional
        The leads to measure on (e.g. a model's test slice); all leads by default.

    Returns
    -------
    Series
        Field -> mean |term - mean term| over the leads, strongest first.

    Raises
    ------
    ValueError
        If a lead id is not in ``history``.
    """
    terms = history.drivers.set_index(C.LEAD_ID)
    if lead_ids is not None:
        ids = pd.Index(pd.Series(lead_ids, dtype="str"))
        unknown = ids.difference(terms.index)
        if len(unknown):
            raise ValueError(
                f"lead_ids must be leads of the history, got {len(unknown)} unknown, "
                f"e.g. {unknown[0]!r}"
            )
        terms = terms.loc[ids]
    importance = (terms - terms.mean()).abs().mean()
    return importance.sort_values(ascending=False, kind="stable")


def write_history(history: SyntheticHistory, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables of ``history`` to ``out_dir`` atomically.

    Parameters
    ----------
    history : SyntheticHistory
        The output of :func:`generate_history`.
    out_dir : Path
        Directory to write into (created if needed).
    fmt : {"csv", "parquet"}, default "csv"
        File format. In CSV, datetimes are ISO 8601 with a ``+00:00`` offset and empty
        values are empty cells.

    Returns
    -------
    dict of str to Path
        ``{"leads": .../leads.<fmt>, "activities": ..., "outcomes": ..., "truth": ...}``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    if not isinstance(history, SyntheticHistory):
        raise ValueError(f"history must be a SyntheticHistory, got {type(history).__name__}")
    out_dir = Path(out_dir)
    # Inputs for mqlml, written as generated: junk emails such as "-" or "@gmail.com" are
    # part of the history, not formulas to neutralise (data.files.neutralise_formulas).
    return {
        name: write_table(getattr(history, name), out_dir / f"{name}.{fmt}", safe_csv=False)
        for name in _TABLES
    }


# =============================================================================
# Implementation
# =============================================================================


def _check_int(name: str, value: object, minimum: int, what: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _check_driver_scale(driver_scale: object) -> dict[str, float]:
    """A factor per field of DRIVER_FIELDS (1.0 where not named)."""
    scale = dict.fromkeys(DRIVER_FIELDS, 1.0)
    if driver_scale is None:
        return scale
    allowed = ", ".join(DRIVER_FIELDS)
    if not isinstance(driver_scale, Mapping):
        raise ValueError(
            f"driver_scale must be a mapping of field name to factor ({allowed}), "
            f"got {driver_scale!r}"
        )
    for field, factor in driver_scale.items():
        if field not in scale:
            raise ValueError(
                f"driver_scale has an unknown field {field!r}; the fields are: {allowed}"
            )
        if (
            not isinstance(factor, numbers.Real) or isinstance(factor, bool)
            or not math.isfinite(factor) or factor <= 0
        ):
            raise ValueError(
                f"driver_scale[{field!r}] must be a positive finite number, got {factor!r}"
            )
        scale[field] = float(factor)
    return scale


def _parse_start(start: object) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"start must be a date such as '2024-01-01', got {start!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _table(coefs: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    return np.array([coefs[name] for name in names], dtype=float)


def _draw_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1).clip(max=probs.shape[1] - 1)


def _pick_in_groups(
    rng: np.random.Generator, group: np.ndarray, groups: list[tuple[str, ...]]
) -> np.ndarray:
    """For each row, a uniformly chosen string of ``groups[group[row]]`` (object array)."""
    vocab = np.array([s for g in groups for s in g], dtype=object)
    counts = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idx = offsets[group] + (rng.random(len(group)) * counts[group]).astype(np.int64)
    return vocab[idx]


def _to_utc(seconds: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
    """Epoch seconds (int64) -> tz-aware UTC datetimes; NaT where ``valid`` is False."""
    arr = seconds.astype("datetime64[s]").astype(_TIME_UNIT)
    if valid is not None:
        arr[~valid] = np.datetime64("NaT")
    return pd.Series(pd.DatetimeIndex(arr).tz_localize("UTC"))


def _truncated_early_times(
    rng: np.random.Generator, n: int, p_early: float, tau_days: float, window_days: float
) -> np.ndarray:
    """Seconds after creation: Exponential(tau) truncated to the window w.p. p_early, else
    uniform over the window."""
    u = rng.random(n)
    early = rng.random(n) < p_early
    cdf_end = 1.0 - np.exp(-window_days / tau_days)
    t_early = -tau_days * np.log1p(-u * cdf_end)
    t_days = np.where(early, t_early, u * window_days)
    return (t_days * _DAY).astype(np.int64)


def _draw_creation_times(rng: np.random.Generator, n: int, start: pd.Timestamp, days: int):
    """Epoch seconds of lead creation, sorted: growing volume, fewer on weekends and at
    the end of December, business-hours time of day."""
    day_idx = np.arange(days)
    dates = (np.datetime64(start.tz_localize(None).normalize(), "D") + day_idx)
    weekday = (dates.astype(np.int64) + 3) % 7  # 0 = Monday
    weekday_factor = np.array([1.0, 1.1, 1.1, 1.0, 0.85, 0.3, 0.3])[weekday]
    month_day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    holiday = ((month == 12) & (month_day >= 20)) | ((month == 1) & (month_day <= 2))
    weight = (1.0 + 0.5 * day_idx / max(days, 1)) * weekday_factor * np.where(holiday, 0.6, 1.0)
    day = rng.choice(days, size=n, p=weight / weight.sum())
    # 85% in business hours around 14:00 UTC (Europe afternoon / US morning), 15% any time.
    hour = np.where(
        rng.random(n) < 0.85, rng.normal(14.0, 3.5, n) % 24.0, rng.random(n) * 24.0
    )
    seconds_in_day = np.minimum((hour * _HOUR).astype(np.int64), _DAY - 1)
    start_s = int(start.value // 1_000_000_000)
    return np.sort(start_s + day.astype(np.int64) * _DAY + seconds_in_day)


def _draw_leads(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Fit attributes (codes) and the intended seniority / department / email type."""
    industry = rng.choice(len(INDUSTRIES), size=n, p=_P_INDUSTRY)
    source = rng.choice(len(LEAD_SOURCES), size=n, p=_P_SOURCE)
    country = rng.choice(len(COUNTRIES), size=n, p=_P_COUNTRY)

    p_student = (
        0.015
        + 0.08 * (industry == INDUSTRIES.index("Education"))
        + 0.03 * (source == LEAD_SOURCES.index("content_syndication"))
        + 0.02 * (source == LEAD_SOURCES.index("paid_social"))
    )
    student = rng.random(n) < p_student

    size = _draw_rows(rng, np.asarray(_P_SIZE_GIVEN_INDUSTRY)[industry])
    size_missing = rng.random(n) < np.where(student, _P_SIZE_MISSING_STUDENT, _P_SIZE_MISSING)
    size = np.where(size_missing, _SIZE_MISSING, size)

    seniority = _draw_rows(rng, np.asarray(_P_SENIORITY_GIVEN_SIZE)[size])
    seniority = np.where(student, _SEN["student"], seniority)
    u_title = rng.random(n)
    title_missing = u_title < _P_TITLE_MISSING
    unparseable = (u_title >= _P_TITLE_MISSING) & (
        u_title < _P_TITLE_MISSING + _P_TITLE_UNPARSEABLE
    )
    seniority = np.where(title_missing | unparseable, _SEN["unknown"], seniority)

    department = _draw_rows(rng, np.asarray(_P_DEPARTMENT_GIVEN_SENIORITY)[seniority])
    # In small companies most C-level leads are the founder / CEO.
    small_chief = (seniority == _SEN["c_level"]) & (size <= 1) & (rng.random(n) < 0.35)
    department = np.where(small_chief, _DEP["executive"], department)

    cells = list(JOB_TITLES)
    cell_of = {cell: i for i, cell in enumerate(cells)}
    cell_code = np.full((len(SENIORITIES), len(DEPARTMENTS)), -1)
    for (sen, dep), i in cell_of.items():
        cell_code[_SEN[sen], _DEP[dep]] = i
    cell = cell_code[seniority, department]
    assert (cell >= 0).all(), "a (seniority, department) pair without job titles"
    job_title = _pick_in_groups(rng, cell, [JOB_TITLES[c] for c in cells])
    job_title[title_missing] = None

    # Email type: students and micro-companies use free mail, social ads bring personal
    # addresses, badge scans at events are often unusable, syndication vendors validate.
    p_email = np.tile(np.asarray(_P_EMAIL_BASE), (n, 1))
    shift = 0.15 * (size == 0) + 0.10 * (source == LEAD_SOURCES.index("paid_social"))
    p_email[:, 0] -= shift
    p_email[:, 1] += shift
    is_event = source == LEAD_SOURCES.index("event")
    p_email[is_event] += np.array([-0.10, 0.0, 0.04, 0.06])
    p_email[source == LEAD_SOURCES.index("content_syndication")] = _P_EMAIL_SYNDICATED
    p_email[student] = _P_EMAIL_STUDENT
    email_type = _draw_rows(rng, p_email)
    email = _draw_emails(rng, email_type, industry, country)

    return {
        "industry": industry, "source": source, "country": country, "size": size,
        "seniority": seniority, "department": department, "job_title": job_title,
        "email_type": email_type, "email": email,
    }


def _draw_emails(
    rng: np.random.Generator, email_type: np.ndarray, industry: np.ndarray, country: np.ndarray
) -> np.ndarray:
    n = len(email_type)
    first_cap = np.array(_FIRST_NAMES, dtype=object)
    last_cap = np.array(_LAST_NAMES, dtype=object)
    first_low = np.array([s.lower() for s in _FIRST_NAMES], dtype=object)
    last_low = np.array([s.lower() for s in _LAST_NAMES], dtype=object)
    initial = np.array([s[0].lower() for s in _FIRST_NAMES], dtype=object)
    fi = rng.integers(0, len(_FIRST_NAMES), n)
    li = rng.integers(0, len(_LAST_NAMES), n)
    capitalised = rng.random(n) < 0.12
    first = np.where(capitalised, first_cap[fi], first_low[fi])
    last = np.where(capitalised, last_cap[li], last_low[li])

    # business: first.last@<company><tld>, some flast@ / first@ / first_last@
    pattern = rng.choice(4, size=n, p=(0.6, 0.2, 0.1, 0.1))
    local_business = np.select(
        [pattern == 0, pattern == 1, pattern == 2],
        [first + "." + last, initial[fi] + last, first],
        default=first + "_" + last,
    )
    prefix = np.array(_COMPANY_PREFIXES, dtype=object)[rng.integers(0, len(_COMPANY_PREFIXES), n)]
    core = _pick_in_groups(rng, industry, list(_COMPANY_CORES))
    tld = np.array(_COUNTRY_TLD, dtype=object)[country]
    tld = np.where(rng.random(n) < 0.7, ".com", tld)
    us = country == COUNTRIES.index("US")
    tld = np.where(us & (industry == INDUSTRIES.index("Education")), ".edu", tld)
    tld = np.where(us & (industry == INDUSTRIES.index("Government")), ".gov", tld)
    business = local_business + "@" + prefix + core + tld

    # free: first.last@gmail.com, firstlast84@..., first_last@..., flast1987@...
    digits2 = rng.integers(1, 100, n).astype(str).astype(object)
    year = rng.integers(1965, 2006, n).astype(str).astype(object)
    fpattern = rng.choice(4, size=n, p=(0.45, 0.25, 0.15, 0.15))
    local_free = np.select(
        [fpattern == 0, fpattern == 1, fpattern == 2],
        [first + "." + last, first + last + digits2, first + "_" + last],
        default=initial[fi] + last + year,
    )
    domain = np.array(_FREE_DOMAINS, dtype=object)[
        rng.choice(len(_FREE_DOMAINS), size=n, p=_P_FREE_DOMAINS)
    ]
    local_pick = rng.random(n)
    for code, domains in _LOCAL_FREE_DOMAINS.items():
        use = (country == code) & (local_pick < 0.4)
        domain = np.where(use, np.array(domains, dtype=object)[rng.integers(0, len(domains), n)],
                          domain)
    free = local_free + "@" + domain

    invalid = np.array(_INVALID_EMAILS, dtype=object)[rng.integers(0, len(_INVALID_EMAILS), n)]
    return np.select(
        [email_type == 0, email_type == 1, email_type == 2], [business, free, invalid],
        default=None,
    )


def _intent(rng: np.random.Generator, lead: dict[str, np.ndarray]) -> np.ndarray:
    """Latent buying intent: fit plus noise. Never written; drives behaviour only."""
    fit = (
        np.asarray(_INTENT_SENIORITY)[lead["seniority"]]
        + np.asarray(_INTENT_DEPARTMENT)[lead["department"]]
        + np.asarray(_INTENT_SOURCE)[lead["source"]]
        + np.asarray(_INTENT_EMAIL)[lead["email_type"]]
        + np.asarray(_INTENT_SIZE)[lead["size"]]
    )
    return fit + rng.normal(0.0, _INTENT_NOISE_SD, len(fit))


class _Events:
    """Growing columnar store of activity events (lead index, seconds after creation,
    type, detail code)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, lead: np.ndarray, offset: np.ndarray, kind: int | np.ndarray,
            detail: np.ndarray) -> None:
        kinds = np.broadcast_to(np.asarray(kind, dtype=np.int8), lead.shape)
        self.parts.append((lead.astype(np.int64), offset.astype(np.int64), kinds,
                           detail.astype(np.int64)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lead, offset, kind, detail = (
            np.concatenate([part[i] for part in self.parts]) for i in range(4)
        )
        return lead, offset, kind, detail


def _draw_details(rng: np.random.Generator, kind: int, m: int) -> np.ndarray:
    return rng.integers(0, len(_DETAIL_GROUPS[kind]), m)


def _draw_behaviour(
    rng: np.random.Generator, lead: dict[str, np.ndarray], intent: np.ndarray
) -> _Events:
    """Ordinary activities over the first ACTIVITY_WINDOW_DAYS after creation."""
    n = len(intent)
    events = _Events()
    active = rng.random(n) >= _sigmoid(_SILENT_A + _SILENT_B * intent)
    idx = np.arange(n)

    # The activity that created the lead.
    p_create = np.asarray(_CREATION_EVENT)[lead["source"]]
    u = rng.random(n)
    creation_kind = np.select(
        [u < p_create[:, 0], u < p_create[:, 0] + p_create[:, 1],
         u < p_create.sum(axis=1)],
        [_CONTENT, _FORM, _WSIGNUP], default=-1,
    )
    creation_offset = rng.integers(0, 120, n)
    for kind in (_CONTENT, _FORM, _WSIGNUP):
        who = idx[active & (creation_kind == kind)]
        events.add(who, creation_offset[who], kind, _draw_details(rng, kind, len(who)))

    email_ok = lead["email_type"] <= 1
    webinar_lead = lead["source"] == LEAD_SOURCES.index("webinar")
    window = float(ACTIVITY_WINDOW_DAYS)
    for kind, (a, b, p_early, tau) in _RATES.items():
        log_rate = a + b * intent
        if kind == _WSIGNUP:
            log_rate = log_rate + _WEBINAR_SOURCE_SIGNUP_BOOST * webinar_lead
        rate = np.exp(log_rate) * active
        if kind == _OPEN:
            rate = rate * email_ok
        who = np.repeat(idx, rng.poisson(rate))
        offset = _truncated_early_times(rng, len(who), p_early, tau, window)
        detail = _draw_details(rng, kind, len(who))
        events.add(who, offset, kind, detail)
        if kind == _OPEN:  # clicks: a thinning of opens, minutes to hours later
            keep = rng.random(len(who)) < _sigmoid(_CLICK_A + _CLICK_B * intent[who])
            delay = 30 + rng.exponential(3 * _HOUR, len(who)).astype(np.int64)
            events.add(who[keep], (offset + delay)[keep], _CLICK, detail[keep])
    # Attendance: a thinning of all signups (creation or later), 1-14 days after signing up.
    lead_all, offset_all, kind_all, detail_all = events.arrays()
    is_signup = kind_all == _WSIGNUP
    s_lead, s_offset, s_detail = lead_all[is_signup], offset_all[is_signup], detail_all[is_signup]
    attend = rng.random(len(s_lead)) < _sigmoid(_ATTEND_A + _ATTEND_B * intent[s_lead])
    delay = rng.integers(_DAY, 14 * _DAY, len(s_lead))
    events.add(s_lead[attend], (s_offset + delay)[attend], _WATTEND, s_detail[attend])
    return events


@dataclass(frozen=True)
class _Observed:
    """What is observable at as-of, per lead (all strictly before as-of)."""

    counts: np.ndarray  # (n, n_types)
    days_since_last: np.ndarray  # NaN when no activity before as-of
    first_request: np.ndarray  # seconds after creation of the first demo/trial; -1 if none
    first_form: np.ndarray  # seconds after creation of the first form fill; -1 if none


def _observe(n: int, events: _Events, obs_s: int) -> _Observed:
    lead, offset, kind, _ = events.arrays()
    before = offset < obs_s
    lb, ob, kb = lead[before], offset[before], kind[before].astype(np.int64)
    counts = np.bincount(lb * _N_TYPES + kb, minlength=n * _N_TYPES).reshape(n, _N_TYPES)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, lb, ob)
    days_since_last = np.where(last >= 0, (obs_s - last) / _DAY, np.nan)
    big = np.iinfo(np.int64).max
    first_request = np.full(n, big, dtype=np.int64)
    is_req = (kb == _DEMO) | (kb == _TRIAL)
    np.minimum.at(first_request, lb[is_req], ob[is_req])
    first_form = np.full(n, big, dtype=np.int64)
    is_form = kb == _FORM
    np.minimum.at(first_form, lb[is_form], ob[is_form])
    return _Observed(
        counts=counts,
        days_since_last=days_since_last,
        first_request=np.where(first_request == big, -1, first_request),
        first_form=np.where(first_form == big, -1, first_form),
    )


def _sql_logit(
    lead: dict[str, np.ndarray], obs: _Observed, scale: dict[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The true log-odds of SQL within the horizon, from observables at as-of only, and its
    term per business field (DRIVER_FIELDS), each multiplied by ``scale[field]``.

    The log-odds is summed in the documented order, addend by addend, so that with all
    factors 1 it is bit-identical to the generator before per-field terms existed (x * 1.0
    and h / 2 + h / 2 are exact); the per-field terms add up to it to rounding.
    """
    logit, terms = _sql_fit_logit(lead, scale)
    logit = _add_sql_behaviour(logit, terms, lead, obs, scale)
    no_activity = np.isnan(obs.days_since_last)
    recency = SQL_RECENCY * np.exp(-np.nan_to_num(obs.days_since_last) / SQL_RECENCY_SCALE_DAYS)
    terms["recency"] = scale["recency"] * np.where(no_activity, SQL_NO_ACTIVITY, recency)
    return logit + terms["recency"], terms


def _sql_fit_logit(
    lead: dict[str, np.ndarray], scale: dict[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Intercept plus the fit terms of the SQL log-odds, and the (scaled) term per fit field."""
    size_names = COMPANY_SIZES + ("missing",)
    sen, dep = lead["seniority"], lead["department"]
    terms = {
        "email_domain_type": _table(SQL_EMAIL, EMAIL_TYPES)[lead["email_type"]],
        "seniority": _table(SQL_SENIORITY, SENIORITIES)[sen],
        "department": _table(SQL_DEPARTMENT, DEPARTMENTS)[dep],
        C.COMPANY_SIZE: _table(SQL_COMPANY_SIZE, size_names)[lead["size"]],
        C.INDUSTRY: _table(SQL_INDUSTRY, INDUSTRIES)[lead["industry"]],
        C.COUNTRY: _table(SQL_COUNTRY, COUNTRIES)[lead["country"]],
        C.LEAD_SOURCE: _table(SQL_LEAD_SOURCE, LEAD_SOURCES)[lead["source"]],
    }
    terms = {field: scale[field] * term for field, term in terms.items()}
    logit = SQL_INTERCEPT
    for field in FIT_DRIVER_FIELDS:
        logit = logit + terms[field]

    decision_maker = (dep == _DEP["marketing"]) & (sen <= _SEN["director"])
    half_dm = SQL_MARKETING_DECISION_MAKER * decision_maker / 2
    dm_sen, dm_dep = scale["seniority"] * half_dm, scale["department"] * half_dm
    logit = logit + (dm_sen + dm_dep)
    terms["seniority"] = terms["seniority"] + dm_sen
    terms["department"] = terms["department"] + dm_dep
    return logit, terms


def _add_sql_behaviour(
    logit: np.ndarray,
    terms: dict[str, np.ndarray],
    lead: dict[str, np.ndarray],
    obs: _Observed,
    scale: dict[str, float],
) -> np.ndarray:
    """``logit`` plus the behaviour terms (counts, pricing x size, flags); adds to ``terms``."""
    log_counts = np.log1p(obs.counts)
    beta = _table(SQL_LOG1P_COUNT, ACTIVITY_TYPES)
    beta_scaled = beta * np.array([scale[t] for t in ACTIVITY_TYPES])
    logit = logit + log_counts @ beta_scaled
    for k, t in enumerate(ACTIVITY_TYPES):
        terms[t] = beta_scaled[k] * log_counts[:, k]

    # interaction: pricing visits matter more for larger companies
    pricing_mult = _table(SQL_PRICING_SIZE_MULTIPLIER, COMPANY_SIZES + ("missing",))
    half_inter = (pricing_mult[lead["size"]] - 1.0) * beta[_PRICING] * log_counts[:, _PRICING] / 2
    inter_pricing = scale["pricing_page_view"] * half_inter
    inter_size = scale[C.COMPANY_SIZE] * half_inter
    logit = logit + (inter_pricing + inter_size)
    terms["pricing_page_view"] = terms["pricing_page_view"] + inter_pricing
    terms[C.COMPANY_SIZE] = terms[C.COMPANY_SIZE] + inter_size

    flags = (
        ("demo_request", SQL_ANY_DEMO_REQUEST * (obs.counts[:, _DEMO] > 0)),
        ("free_trial_request", SQL_ANY_FREE_TRIAL_REQUEST * (obs.counts[:, _TRIAL] > 0)),
        ("page_view",
         SQL_MANY_PAGE_VIEWS * (obs.counts[:, _PAGE] >= SQL_MANY_PAGE_VIEWS_THRESHOLD)),
    )
    for field, flag in flags:
        flag = scale[field] * flag
        logit = logit + flag
        terms[field] = terms[field] + flag
    return logit


def _won_logit(lead: dict[str, np.ndarray], obs: _Observed) -> np.ndarray:
    """Log-odds of won given SQL within the horizon, from observables at as-of."""
    return (
        WON_INTERCEPT
        + _table(WON_COMPANY_SIZE, COMPANY_SIZES + ("missing",))[lead["size"]]
        + _table(WON_SENIORITY, SENIORITIES)[lead["seniority"]]
        + _table(WON_INDUSTRY, INDUSTRIES)[lead["industry"]]
        + _table(WON_EMAIL, EMAIL_TYPES)[lead["email_type"]]
        + WON_ANY_FREE_TRIAL_REQUEST * (obs.counts[:, _TRIAL] > 0)
        + WON_ANY_DEMO_REQUEST * (obs.counts[:, _DEMO] > 0)
    )


def _generate_with_intended(
    n_leads: int,
    seed: int = 0,
    *,
    start: str = "2024-01-01",
    days: int = 730,
    observation_days: int = DEFAULT_OBSERVATION_DAYS,
    sql_horizon_days: int = DEFAULT_HORIZON_DAYS["sql"],
    won_horizon_days: int = DEFAULT_HORIZON_DAYS["won"],
    driver_scale: Mapping[str, float] | None = None,
    shift: MarketShift | None = None,
) -> tuple[SyntheticHistory, pd.DataFrame]:
    """:func:`generate_history` plus the intended seniority / department / email type per
    lead (for tests; never written)."""
    n = _check_int("n_leads", n_leads, 1, "a positive integer")
    seed = _check_int("seed", seed, 0, "a non-negative integer")
    start_ts = _parse_start(start)
    days = _check_int("days", days, 1, "a positive integer")
    obs_days = _check_int("observation_days", observation_days, 0, "a non-negative integer")
    sql_h = _check_int("sql_horizon_days", sql_horizon_days, 1, "a positive integer")
    won_h = _check_int(
        "won_horizon_days", won_horizon_days, sql_h,
        f"an integer of at least sql_horizon_days ({sql_h})",
    )
    scale = _check_driver_scale(driver_scale)

    # The order of the draws below fixes the output for a seed: do not reorder them.
    rng = np.random.default_rng(seed)
    start_s = int(start_ts.value // 1_000_000_000)
    snapshot_s = start_s + days * _DAY
    obs_s = obs_days * _DAY

    created_s = _draw_creation_times(rng, n, start_ts, days)
    lead = _draw_leads(rng, n)
    intent = _intent(rng, lead)
    events = _draw_behaviour(rng, lead, intent)
    shifted = None
    if shift is not None:
        shifted = _ShiftPlan.draw(shift, seed, created_s, lead, intent, events)
    obs = _observe(n, events, obs_s)

    sql_logit, sql_terms = _sql_logit(lead, obs, scale)
    won_logit = _won_logit(lead, obs)
    if shifted is not None:
        sql_logit, won_logit = shifted.apply(sql_logit, sql_terms, won_logit, lead, obs, scale)
    p_sql = _sigmoid(sql_logit)
    q_won = _sigmoid(won_logit)
    as_of = created_s + obs_s

    sql = _draw_sql(rng, obs, p_sql, created_s=created_s, obs_s=obs_s, sql_h=sql_h)
    deals = _draw_won_lost(rng, lead, sql, q_won, as_of=as_of, won_h=won_h)
    _add_burst_before_sql(rng, events, sql, as_of=as_of, created_s=created_s)

    lead_ids = _lead_ids(n)
    leads_table = _leads_table(lead_ids, created_s, lead)
    if shifted is not None:
        shifted.rename(leads_table)
    history = SyntheticHistory(
        leads=leads_table,
        activities=_activities_table(events, lead_ids, created_s, snapshot_s),
        outcomes=_outcomes_table(lead_ids, sql, deals, snapshot_s),
        truth=_truth_table(lead_ids, as_of, p_sql, p_sql * q_won, sql.fast),
        snapshot_at=pd.Timestamp(snapshot_s * 1_000_000_000, tz="UTC").as_unit("us"),
        drivers=pd.DataFrame(
            {C.LEAD_ID: pd.Series(lead_ids, dtype="str")}
            | {field: sql_terms[field] for field in DRIVER_FIELDS}
        ),
    )
    return history, _intended_table(lead_ids, lead, intent, obs, sql.in_horizon)


@dataclass(frozen=True)
class _ShiftPlan:
    """Who a :class:`MarketShift` touches, drawn from its own random stream."""

    shift: MarketShift
    after: np.ndarray  # created at or after shift.at
    new_source: np.ndarray  # leads moved to the new source
    new_industry: np.ndarray  # leads moved to the new industry

    @classmethod
    def draw(
        cls,
        shift: MarketShift,
        seed: int,
        created_s: np.ndarray,
        lead: dict[str, np.ndarray],
        intent: np.ndarray,
        events: _Events,
    ) -> _ShiftPlan:
        """Check ``shift``, pick the leads it touches; replaces the stopped behaviour's
        events of the later leads in ``events`` by intent-free ones."""
        _check_shift(shift)
        at_s = int(_parse_start(shift.at).value // 1_000_000_000)
        n = len(created_s)
        after = created_s >= at_s
        # A separate stream: the main draws (and so the leads before `at`) stay as they are.
        srng = np.random.default_rng([seed, 15])
        u_source, u_industry = srng.random(n), srng.random(n)
        new_source = after & (shift.new_source is not None) & (u_source < shift.new_source_share)
        new_industry = after & (shift.new_industry is not None) & (
            u_industry < shift.new_industry_share
        )
        if shift.stop_behaviour is not None:
            _replace_by_noise(srng, events, ACTIVITY_TYPES.index(shift.stop_behaviour), after)
        return cls(shift=shift, after=after, new_source=new_source, new_industry=new_industry)

    def apply(
        self,
        sql_logit: np.ndarray,
        terms: dict[str, np.ndarray],
        won_logit: np.ndarray,
        lead: dict[str, np.ndarray],
        obs: _Observed,
        scale: dict[str, float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The shifted SQL and won log-odds; updates ``terms`` to the shifted world."""
        shift, after = self.shift, self.after
        sql_logit, won_logit = sql_logit.copy(), won_logit.copy()
        if shift.stop_behaviour is not None:
            # The truth of a later lead is computed as if the behaviour were never seen.
            counts = obs.counts.copy()
            counts[:, ACTIVITY_TYPES.index(shift.stop_behaviour)] = 0
            blind = _Observed(
                counts=counts, days_since_last=obs.days_since_last,
                first_request=obs.first_request, first_form=obs.first_form,
            )
            blind_logit, blind_terms = _sql_logit(lead, blind, scale)
            sql_logit[after] = blind_logit[after]
            # Stopped for winning too: demo and trial requests also move the won odds.
            won_logit[after] = _won_logit(lead, blind)[after]
            for field, term in terms.items():
                term[after] = blind_terms[field][after]
        for moved, field, value in (
            (self.new_source, C.LEAD_SOURCE, shift.new_source_logit),
            (self.new_industry, C.INDUSTRY, shift.new_industry_logit),
        ):
            new_term = scale[field] * value
            sql_logit[moved] += new_term - terms[field][moved]
            terms[field][moved] = new_term
        won_logit[self.new_industry] -= _table(WON_INDUSTRY, INDUSTRIES)[
            lead["industry"][self.new_industry]
        ]
        sql_logit[after] += shift.base_rate_logit
        return sql_logit, won_logit

    def rename(self, leads: pd.DataFrame) -> None:
        """Nothing; writes the new source and industry names into the leads table."""
        if self.new_source.any():
            leads.loc[self.new_source, C.LEAD_SOURCE] = self.shift.new_source
        if self.new_industry.any():
            leads.loc[self.new_industry, C.INDUSTRY] = self.shift.new_industry


def _replace_by_noise(
    rng: np.random.Generator, events: _Events, kind: int, after: np.ndarray
) -> None:
    """Nothing; the ``kind`` events of the ``after`` leads become a Poisson draw at their
    mean count, with the same timing, independent of intent (so of conversion)."""
    lead, offset, kinds, detail = events.arrays()
    drop = (kinds == kind) & after[lead]
    n_after = int(after.sum())
    mean = drop.sum() / n_after if n_after else 0.0
    events.parts = [(lead[~drop], offset[~drop], kinds[~drop], detail[~drop])]
    who = np.repeat(np.flatnonzero(after), rng.poisson(mean, n_after))
    _, _, p_early, tau = _RATES[kind]
    events.add(
        who, _truncated_early_times(rng, len(who), p_early, tau, float(ACTIVITY_WINDOW_DAYS)),
        kind, _draw_details(rng, kind, len(who)),
    )


def _check_shift(shift: object) -> None:
    """Raise ValueError naming the field of an invalid :class:`MarketShift`."""
    if not isinstance(shift, MarketShift):
        raise ValueError(f"shift must be a MarketShift, got {type(shift).__name__}")
    try:
        _parse_start(shift.at)
    except ValueError:
        raise ValueError(
            f"shift.at must be a date such as '2025-06-01', got {shift.at!r}"
        ) from None
    for name, taken, what in (
        ("new_source", LEAD_SOURCES, "lead source"), ("new_industry", INDUSTRIES, "industry"),
    ):
        value = getattr(shift, name)
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or value in taken):
            raise ValueError(
                f"shift.{name} must be a new {what} name (not one of {', '.join(taken)}), "
                f"got {value!r}"
            )
    for name in ("new_source_share", "new_industry_share"):
        value = getattr(shift, name)
        if not isinstance(value, numbers.Real) or not 0 < value <= 1:
            raise ValueError(f"shift.{name} must be a share in (0, 1], got {value!r}")
    for name in ("new_source_logit", "new_industry_logit", "base_rate_logit"):
        value = getattr(shift, name)
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"shift.{name} must be a finite number (log-odds), got {value!r}")
    if shift.stop_behaviour is not None and shift.stop_behaviour not in STOPPABLE_BEHAVIOURS:
        raise ValueError(
            f"shift.stop_behaviour must be one of {', '.join(STOPPABLE_BEHAVIOURS)}, "
            f"got {shift.stop_behaviour!r}"
        )


@dataclass(frozen=True)
class _SqlDraw:
    """Who reaches SQL, how, and when (epoch seconds; -1 for never)."""

    fast: np.ndarray  # converted before as-of, shortly after an early request / form
    in_horizon: np.ndarray  # SQL in (as_of, as_of + horizon]
    late: np.ndarray  # SQL after the horizon
    sql_s: np.ndarray

    @property
    def reached(self) -> np.ndarray:
        """Whether the lead ever reaches SQL."""
        return self.fast | self.in_horizon | self.late


@dataclass(frozen=True)
class _WonLost:
    """Won / lost flags, their times (epoch seconds) and the deal value per lead."""

    won: np.ndarray
    won_s: np.ndarray
    lost: np.ndarray
    lost_s: np.ndarray
    deal: np.ndarray


def _draw_sql(
    rng: np.random.Generator,
    obs: _Observed,
    p_sql: np.ndarray,
    *,
    created_s: np.ndarray,
    obs_s: int,
    sql_h: int,
) -> _SqlDraw:
    """The SQL draw: fast converters, SQL within the horizon with probability p_sql, late."""
    n = len(p_sql)
    as_of = created_s + obs_s
    # Fast converters: SQL shortly after an early demo / trial request (or, rarely, form).
    has_req = obs.first_request >= 0
    has_form = obs.first_form >= 0
    u_fast = rng.random(n)
    fast_delay = (rng.gamma(2.0, FAST_DELAY_SCALE_DAYS, n) * _DAY).astype(np.int64) + 60
    fast_from = np.where(has_req, obs.first_request, obs.first_form)
    fast = (
        (has_req & (u_fast < FAST_P_AFTER_REQUEST))
        | (~has_req & has_form & (u_fast < FAST_P_AFTER_FORM))
    ) & (fast_from + fast_delay < obs_s)
    # Everyone else: SQL in (as_of, as_of + horizon] with probability exactly p_sql.
    in_horizon = ~fast & (rng.random(n) < p_sql)
    engaged = (obs.counts[:, [_PRICING, _DEMO, _TRIAL]].sum(axis=1) > 0)
    beta_b = np.where(engaged, _SQL_DELAY_B_ENGAGED, _SQL_DELAY_B)
    delay = np.ceil(rng.beta(_SQL_DELAY_A, beta_b) * sql_h * _DAY).astype(np.int64)
    delay = delay.clip(1, sql_h * _DAY)
    late = ~fast & ~in_horizon & (rng.random(n) < LATE_SQL_FACTOR * p_sql)
    late_delay = sql_h * _DAY + rng.integers(_DAY, _LATE_SQL_MAX_DAYS * _DAY, n)
    sql_s = np.select(
        [fast, in_horizon, late],
        [created_s + fast_from + fast_delay, as_of + delay, as_of + late_delay],
        default=-1,
    )
    return _SqlDraw(fast=fast, in_horizon=in_horizon, late=late, sql_s=sql_s)


def _draw_won_lost(
    rng: np.random.Generator,
    lead: dict[str, np.ndarray],
    sql: _SqlDraw,
    q_won: np.ndarray,
    *,
    as_of: np.ndarray,
    won_h: int,
) -> _WonLost:
    """The won / lost draw after SQL, with times and deal values."""
    n = len(q_won)
    sql_s = sql.sql_s
    won = (sql.fast | sql.in_horizon) & (rng.random(n) < q_won)
    won_late = sql.late & (rng.random(n) < q_won)
    won_end = as_of + won_h * _DAY
    left = np.maximum(won_end - sql_s, 1)
    frac = rng.beta(1.5, 2.5, n)
    won_delay = np.where(
        left > 14 * _DAY, 7 * _DAY + frac * (left - 7 * _DAY), frac * left
    ).astype(np.int64).clip(0, left)
    after_horizon = (7 + rng.gamma(2.0, 20.0, n)) * _DAY
    won_s = np.where(won, sql_s + won_delay, np.maximum(sql_s, won_end) + after_horizon)
    won = won | won_late
    lost_s = sql_s + ((_LOST_MIN_DAYS + rng.gamma(_LOST_SHAPE, _LOST_SCALE_DAYS, n)) * _DAY)
    lost = sql.reached & ~won
    deal = np.exp(
        np.log(np.asarray(DEAL_MEDIAN, dtype=float)[lead["size"]]) + rng.normal(0, DEAL_SIGMA, n)
    )
    return _WonLost(
        won=won, won_s=won_s.astype(np.int64), lost=lost, lost_s=lost_s.astype(np.int64),
        deal=np.round(deal, -1),
    )


def _add_burst_before_sql(
    rng: np.random.Generator,
    events: _Events,
    sql: _SqlDraw,
    *,
    as_of: np.ndarray,
    created_s: np.ndarray,
) -> None:
    """Nothing; adds to ``events`` the burst of behaviour just before a later SQL.

    The burst lies in the future of as-of, so a feature that looks past it leaks the outcome.
    """
    sql_s = sql.sql_s
    bursting = np.flatnonzero(sql.in_horizon | sql.late)
    w_start = np.maximum(as_of[bursting], sql_s[bursting] - BURST_WINDOW_DAYS * _DAY)
    w_len = sql_s[bursting] - w_start  # >= 1 second
    burst_counts = {
        _PRICING: 1 + rng.poisson(_BURST_PRICING_POISSON, len(bursting)),
        _PAGE: rng.poisson(_BURST_PAGE_POISSON, len(bursting)),
        _DEMO: (rng.random(len(bursting)) < _BURST_P_DEMO).astype(np.int64),
        _TRIAL: (rng.random(len(bursting)) < _BURST_P_TRIAL).astype(np.int64),
        _FORM: (rng.random(len(bursting)) < _BURST_P_FORM).astype(np.int64),
    }
    for kind, counts in burst_counts.items():
        pos = np.repeat(np.arange(len(bursting)), counts)
        who = bursting[pos]
        # concentrated just before sql_at
        back = np.floor((w_len[pos] - 1) * rng.beta(1.0, 2.0, len(pos))).astype(np.int64)
        at = sql_s[who] - 1 - back
        events.add(who, at - created_s[who], kind, _draw_details(rng, kind, len(who)))


def _lead_ids(n: int) -> np.ndarray:
    """Lead ids ``L0000001`` ... as an object array (at least 7 digits)."""
    width = max(7, len(str(n)))
    return np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(
        object
    )


def _names(vocabulary: tuple[str | None, ...], codes: np.ndarray) -> pd.Series:
    """The names of ``codes`` in ``vocabulary`` as a ``str`` Series."""
    return pd.Series(np.array(vocabulary, dtype=object)[codes], dtype="str")


def _leads_table(
    lead_ids: np.ndarray, created_s: np.ndarray, lead: dict[str, np.ndarray]
) -> pd.DataFrame:
    """The exported leads table."""
    return pd.DataFrame(
        {
            C.LEAD_ID: pd.Series(lead_ids, dtype="str"),
            C.CREATED_AT: _to_utc(created_s),
            C.EMAIL: pd.Series(lead["email"], dtype="str"),
            C.JOB_TITLE: pd.Series(lead["job_title"], dtype="str"),
            C.COMPANY_SIZE: _names(COMPANY_SIZES + (None,), lead["size"]),
            C.INDUSTRY: _names(INDUSTRIES, lead["industry"]),
            C.COUNTRY: _names(COUNTRIES, lead["country"]),
            C.LEAD_SOURCE: _names(LEAD_SOURCES, lead["source"]),
        }
    )


def _activities_table(
    events: _Events, lead_ids: np.ndarray, created_s: np.ndarray, snapshot_s: int
) -> pd.DataFrame:
    """The exported activities table: events before the snapshot, by lead, time and kind."""
    ev_lead, ev_offset, ev_kind, ev_detail = events.arrays()
    ev_time = created_s[ev_lead] + ev_offset
    keep = ev_time < snapshot_s
    ev_lead, ev_time, ev_kind, ev_detail = (
        ev_lead[keep], ev_time[keep], ev_kind[keep], ev_detail[keep]
    )
    order = np.lexsort((ev_kind, ev_time, ev_lead))
    ev_lead, ev_time, ev_kind, ev_detail = (
        ev_lead[order], ev_time[order], ev_kind[order], ev_detail[order]
    )
    detail_vocab = np.array([s for g in _DETAIL_GROUPS for s in g], dtype=object)
    detail_offsets = np.concatenate([[0], np.cumsum([len(g) for g in _DETAIL_GROUPS])[:-1]])
    return pd.DataFrame(
        {
            C.LEAD_ID: pd.Series(lead_ids[ev_lead], dtype="str"),
            C.OCCURRED_AT: _to_utc(ev_time),
            C.ACTIVITY_TYPE: _names(ACTIVITY_TYPES, ev_kind),
            C.DETAIL: pd.Series(detail_vocab[detail_offsets[ev_kind] + ev_detail], dtype="str"),
        }
    )


def _outcomes_table(
    lead_ids: np.ndarray, sql: _SqlDraw, deals: _WonLost, snapshot_s: int
) -> pd.DataFrame:
    """The exported outcomes table: one row per lead with SQL before the snapshot."""
    rows = np.flatnonzero(sql.reached & (sql.sql_s < snapshot_s))
    won_known = deals.won[rows] & (deals.won_s[rows] < snapshot_s)
    lost_known = deals.lost[rows] & (deals.lost_s[rows] < snapshot_s)
    return pd.DataFrame(
        {
            C.LEAD_ID: pd.Series(lead_ids[rows], dtype="str"),
            C.SQL_AT: _to_utc(sql.sql_s[rows]),
            C.WON_AT: _to_utc(deals.won_s[rows], won_known),
            C.LOST_AT: _to_utc(deals.lost_s[rows], lost_known),
            C.DEAL_VALUE: pd.Series(
                np.where(won_known, deals.deal[rows], np.nan), dtype="float64"
            ),
        }
    )


def _truth_table(
    lead_ids: np.ndarray,
    as_of: np.ndarray,
    p_sql: np.ndarray,
    p_won: np.ndarray,
    converted: np.ndarray,
) -> pd.DataFrame:
    """The truth table: as-of time and true SQL / won probabilities per lead."""
    return pd.DataFrame(
        {
            C.LEAD_ID: pd.Series(lead_ids, dtype="str"),
            C.AS_OF: _to_utc(as_of),
            C.TRUE_P_SQL: p_sql,
            C.TRUE_P_WON: p_won,
            C.CONVERTED_BEFORE_AS_OF: converted,
        }
    )


def _intended_table(
    lead_ids: np.ndarray,
    lead: dict[str, np.ndarray],
    intent: np.ndarray,
    obs: _Observed,
    sql_within_horizon: np.ndarray,
) -> pd.DataFrame:
    """The intended (latent) attributes per lead, for tests."""
    return pd.DataFrame(
        {
            C.LEAD_ID: pd.Series(lead_ids, dtype="str"),
            "seniority": _names(SENIORITIES, lead["seniority"]),
            "department": _names(DEPARTMENTS, lead["department"]),
            "email_type": _names(EMAIL_TYPES, lead["email_type"]),
            "intent": intent,
            "engaged_before_as_of": (
                obs.counts[:, [_PRICING, _FORM, _DEMO, _TRIAL]].sum(axis=1) > 0
            ),
            "sql_within_horizon": sql_within_horizon,
        }
    )
