"""Point-in-time features.

Every lead is featurised at an as-of time. Activity features use only events that
happened strictly before as-of; fit features come from the lead row. Raw email
addresses are never features: only the derived email domain type is.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# --- derived fit attributes -----------------------------------------------

#: Consumer mailbox providers; an address at one of these is a "free" email.
FREE_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com",
        "aol.com", "icloud.com", "me.com", "mac.com", "gmx.de", "gmx.net", "gmx.com",
        "web.de", "mail.com", "protonmail.com", "proton.me", "yandex.ru", "yandex.com",
        "mail.ru", "qq.com", "163.com", "126.com", "zoho.com", "orange.fr", "free.fr",
        "laposte.net", "libero.it", "t-online.de", "rediffmail.com", "uol.com.br",
        "bol.com.br", "fastmail.com", "hey.com",
    }
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")

EMAIL_BUSINESS = "business"
EMAIL_FREE = "free"
EMAIL_INVALID = "invalid"
EMAIL_MISSING = "missing"


def email_domain_type(emails: pd.Series) -> pd.Series:
    """Classify email addresses as ``business``, ``free``, ``invalid`` or ``missing``.

    Only this derived category is ever used as a feature; the address itself is not.
    """
    s = emails.astype("string").str.strip().str.lower()
    valid = s.str.match(_EMAIL_RE).fillna(False).astype(bool)
    domain = s.str.rsplit("@", n=1).str[-1]
    out = np.where(
        s.isna(),
        EMAIL_MISSING,
        np.where(
            ~valid,
            EMAIL_INVALID,
            np.where(domain.isin(FREE_EMAIL_DOMAINS).fillna(False), EMAIL_FREE, EMAIL_BUSINESS),
        ),
    )
    return pd.Series(out, index=emails.index, dtype="str")


# Ordered: the first pattern that matches wins, so "Vice President" beats "President"
# and "Assistant to the Director" stays junior.
_SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    ("student", r"\b(?:student|intern|trainee|apprentice|graduate student)\b"),
    ("c_level", r"\b(?:ceo|cto|cfo|coo|cmo|cio|ciso|cro|cpo|chief|founder|co-founder|cofounder|owner|president)\b"),
    ("vp", r"\b(?:vp|svp|evp|avp|vice president|head of)\b"),
    ("director", r"\b(?:director)\b"),
    ("manager", r"\b(?:manager|lead|supervisor|team lead)\b"),
    ("individual_contributor", r"\b(?:engineer|developer|analyst|specialist|associate|consultant|coordinator|executive|representative|rep|administrator|admin|designer|scientist|accountant|architect|officer|assistant|agent|strategist|planner|writer|teacher|professor|researcher|nurse|technician|clerk)\b"),
)
_VICE_PRESIDENT = re.compile(r"\bvice[- ]president\b")

_DEPARTMENT_RULES: tuple[tuple[str, str], ...] = (
    ("marketing", r"\b(?:marketing|cmo|demand gen|demand generation|growth|brand|content|seo|communications|pr)\b"),
    ("sales", r"\b(?:sales|cro|account executive|business development|bdr|sdr|account manager|revenue)\b"),
    ("it_engineering", r"\b(?:it|cto|cio|ciso|engineer|engineering|developer|software|devops|data|technology|security|architect|infrastructure|technical)\b"),
    ("finance", r"\b(?:finance|financial|cfo|accountant|accounting|controller|treasury|procurement)\b"),
    ("operations", r"\b(?:operations|coo|ops|supply chain|logistics|project|program)\b"),
    ("hr", r"\b(?:hr|human resources|people|talent|recruiter|recruiting)\b"),
    ("executive", r"\b(?:ceo|founder|co-founder|cofounder|owner|president|general manager|managing director)\b"),
)

SENIORITY_UNKNOWN = "unknown"
DEPARTMENT_OTHER = "other"


def _first_match(titles: pd.Series, rules: tuple[tuple[str, str], ...], default: str) -> pd.Series:
    out = pd.Series(default, index=titles.index, dtype="object")
    unset = pd.Series(True, index=titles.index)
    for label, pattern in rules:
        hit = titles.str.contains(pattern, regex=True).fillna(False).astype(bool) & unset
        out[hit] = label
        unset &= ~hit
    return out.astype("str")


def parse_job_title(titles: pd.Series) -> pd.DataFrame:
    """Derive ``seniority`` and ``department`` from free-text job titles.

    Keyword rules, case-insensitive; titles that match nothing get ``unknown`` / ``other``.

    Returns
    -------
    DataFrame
        Columns ``seniority`` (student, c_level, vp, director, manager,
        individual_contributor, unknown) and ``department``, indexed like ``titles``.
    """
    t = titles.astype("string").str.lower().str.replace(r"[/,&|()]", " ", regex=True)
    t = t.str.replace(r"\s+", " ", regex=True).str.strip()
    seniority = _first_match(t, _SENIORITY_RULES, SENIORITY_UNKNOWN)
    # "vice president" contains "president"; the c-level rule must not claim it.
    is_vp = t.str.contains(_VICE_PRESIDENT).fillna(False).astype(bool)
    seniority[is_vp] = "vp"
    department = _first_match(t, _DEPARTMENT_RULES, DEPARTMENT_OTHER)
    return pd.DataFrame({"seniority": seniority, "department": department}, index=titles.index)
