"""policy-match — 中山惠企政策匹配.

Rules decide eligibility; jieba + TF-IDF decide relevance; every answer is explained.

>>> from policy_match import match
>>> result = match({"sector": "C", "above_scale": True, "plans": "上MES，建数字化车间"})
>>> result.to_dict()["results"][0]["policy_id"]  # doctest: +SKIP
"""

from .knowledge import KnowledgeBase, bundled_knowledge_base, load_directory
from .matcher import Matcher, MatchResult, match
from .profile import Profile, ProfileError, parse_profile
from .schema import PolicyRecord

__version__ = "0.1.0"
__all__ = [
    "KnowledgeBase", "Matcher", "MatchResult", "PolicyRecord", "Profile", "ProfileError",
    "bundled_knowledge_base", "load_directory", "match", "parse_profile",
]
